"""Real-time updates for the inbox: Socket.IO server, rooms, and typed events published after commit."""
