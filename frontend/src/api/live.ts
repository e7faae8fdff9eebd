// The live event stream (/api/v1/ws) with reconnect.
//
// Every frame carries `seq`, contiguous per connection from 1 (the hello). After any
// (re)connect, a gap in seq, or a "resync" frame, the app is told to re-read state over
// REST (`onResync`); messages are then fetched with `after_id`, so nothing is lost and
// nothing is shown twice.

import type { LiveEvent } from "./types";

export type LiveState = "connecting" | "open" | "closed";

export interface LiveHandlers {
  onEvent: (event: LiveEvent) => void;
  onResync: (reason: string) => void;
  onState?: (state: LiveState) => void;
}

export class LiveSocket {
  private socket: WebSocket | null = null;
  private handlers: LiveHandlers;
  private lastSeq = 0;
  private attempt = 0;
  private timer: number | null = null;
  private watchdog: number | null = null;
  private heartbeatMs = 30_000;
  private stopped = false;
  private everOpened = false;

  constructor(handlers: LiveHandlers) {
    this.handlers = handlers;
  }

  start(): void {
    this.stopped = false;
    this.connect();
  }

  stop(): void {
    this.stopped = true;
    if (this.timer !== null) window.clearTimeout(this.timer);
    if (this.watchdog !== null) window.clearTimeout(this.watchdog);
    this.socket?.close(1000, "bye");
    this.socket = null;
    this.handlers.onState?.("closed");
  }

  /** Send a frame to the server if the link is open; whether it was sent. */
  send(payload: object): boolean {
    const socket = this.socket;
    if (!socket || socket.readyState !== WebSocket.OPEN) return false;
    socket.send(JSON.stringify(payload));
    return true;
  }

  /** Drop the link now (tests and "reconnect" buttons); it comes back by itself. */
  reconnectNow(): void {
    this.socket?.close(4000, "reconnect");
  }

  private connect(): void {
    if (this.stopped) return;
    this.handlers.onState?.("connecting");
    const scheme = window.location.protocol === "https:" ? "wss" : "ws";
    const socket = new WebSocket(`${scheme}://${window.location.host}/api/v1/ws`);
    this.socket = socket;
    this.lastSeq = 0;
    socket.onmessage = (msg) => this.receive(socket, msg.data);
    socket.onclose = () => {
      if (this.socket !== socket) return;
      this.socket = null;
      this.handlers.onState?.("closed");
      this.scheduleReconnect();
    };
  }

  private scheduleReconnect(): void {
    if (this.stopped) return;
    if (this.watchdog !== null) window.clearTimeout(this.watchdog);
    const delay = Math.min(10_000, 500 * 2 ** this.attempt) * (0.75 + Math.random() * 0.5);
    this.attempt += 1;
    this.timer = window.setTimeout(() => this.connect(), delay);
  }

  private armWatchdog(socket: WebSocket): void {
    // The server sends a ping frame after each idle heartbeat: silence for two beats
    // means the link is dead even if the browser has not noticed.
    if (this.watchdog !== null) window.clearTimeout(this.watchdog);
    this.watchdog = window.setTimeout(() => socket.close(4001, "silent"), this.heartbeatMs * 2.5);
  }

  private receive(socket: WebSocket, data: unknown): void {
    if (typeof data !== "string") return;
    let frame: LiveEvent;
    try {
      frame = JSON.parse(data) as LiveEvent;
    } catch {
      return;
    }
    this.armWatchdog(socket);
    const seq = typeof frame.seq === "number" ? frame.seq : null;
    if (frame.event === "hello") {
      this.attempt = 0;
      if (typeof frame.heartbeat_seconds === "number" && frame.heartbeat_seconds > 0) {
        this.heartbeatMs = frame.heartbeat_seconds * 1000;
      }
      this.lastSeq = seq ?? 1;
      this.handlers.onState?.("open");
      // Whatever happened while we were away is read back over REST.
      this.handlers.onResync(this.everOpened ? "reconnected" : "connected");
      this.everOpened = true;
      return;
    }
    if (seq !== null) {
      if (this.lastSeq && seq !== this.lastSeq + 1) {
        this.lastSeq = seq;
        this.handlers.onResync("gap");
        return;
      }
      this.lastSeq = seq;
    }
    if (frame.event === "ping" || frame.event === "pong") return;
    if (frame.event === "resync") {
      this.handlers.onResync(String(frame.reason ?? "resync"));
      return;
    }
    this.handlers.onEvent(frame);
  }
}
