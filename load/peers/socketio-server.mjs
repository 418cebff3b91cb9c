// A Socket.IO server with rooms (npm `socket.io`, WebSocket transport only, defaults
// otherwise): `join` puts the socket in a room and acknowledges; `publish` broadcasts the body
// to the room (sender included), encoded once by Socket.IO's adapter, and acknowledges. No authentication,
// no storage: the peer's best case.
// Usage: node socketio-server.mjs PORT
import { Server } from 'socket.io';

const port = Number(process.argv[2] ?? 4300);
const io = new Server({ transports: ['websocket'], serveClient: false });
io.on('connection', (socket) => {
  socket.on('join', (room, ack) => {
    socket.join(String(room));
    if (typeof ack === 'function') ack(true);
  });
  socket.on('publish', (room, body, ack) => {
    io.to(String(room)).emit('message', body);
    if (typeof ack === 'function') ack(true);
  });
});
io.listen(port, { host: '127.0.0.1' });
console.log(`Socket.IO server on ws://127.0.0.1:${port}/socket.io/`);
for (const signal of ['SIGINT', 'SIGTERM']) process.on(signal, () => process.exit(0));
