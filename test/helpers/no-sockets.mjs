// Preload (`node --import ./test/helpers/no-sockets.mjs`) that reports every attempt to
// open a network socket or listen on a port, by writing NO_SOCKETS_MARKER to stderr.
// test/cli.test.ts uses it to prove that refused configurations never reach the network.
// It only reports; it does not block, so a test sees the marker rather than a hang.
import dgram from 'node:dgram';
import net from 'node:net';

export const NO_SOCKETS_MARKER = 'NO-SOCKETS-VIOLATION';

function report(what) {
  process.stderr.write(`${NO_SOCKETS_MARKER}: ${what}\n`);
}

function wrap(proto, method, what) {
  const original = proto[method];
  proto[method] = function (...args) {
    report(what);
    return original.apply(this, args);
  };
}

wrap(net.Socket.prototype, 'connect', 'net.Socket#connect');
wrap(net.Server.prototype, 'listen', 'net.Server#listen');
wrap(dgram.Socket.prototype, 'bind', 'dgram.Socket#bind');
wrap(dgram.Socket.prototype, 'send', 'dgram.Socket#send');
