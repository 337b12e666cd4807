"""Finetune Studio's engine: everything that trains, evaluates, chats and exports. Imports no UI code."""
