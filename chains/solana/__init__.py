"""Solana: account decoders, the RPC/websocket client, the tokenized-options adapter, fees and the send lane."""
