// wsfast feeds in the browser: follow topics over the browser's WebSocket, reconnect with
// backoff, and resume every topic from the last (epoch, offset) received, so that nothing
// published while the socket was down is missed (docs/feeds.md, wsfast/feeds/protocol.py).
//
//   const feed = new WsfastFeed("ws://host/chat", ["room"], {
//     onPublication(pub) { ... pub.topic, pub.offset, pub.data (string or ArrayBuffer) ... },
//     onSubscribed(answer) { if (!answer.recovered) { /* missed ones are gone: reload */ } },
//     onMessage(data) { /* anything that is not a feed message */ },
//     onStatus(status) { /* "open" | "closed" */ },
//   });
//   feed.send(JSON.stringify({text: "hi"}));   // false while disconnected
//
// feed.positions[topic] is {epoch, offset} (or null); feed.counts counts publications,
// duplicates, gaps, resets and reconnects.
class WsfastFeed {
  constructor(url, topics, options = {}) {
    this.url = url;
    this.options = Object.assign({last: false, initialDelay: 250, maxDelay: 10000}, options);
    this.positions = {};
    for (const topic of topics) this.positions[topic] = null;
    this.counts = {publications: 0, duplicates: 0, gaps: 0, resets: 0, reconnects: 0};
    this.refetching = new Set();
    this.retry = 0;
    this.closed = false;
    this.connect();
  }

  connect() {
    const ws = this.ws = new WebSocket(this.url);
    ws.binaryType = "arraybuffer";
    ws.onopen = () => {
      this.retry = 0;
      this.refetching.clear();
      for (const topic of Object.keys(this.positions)) this.subscribe(topic);
      this.status("open");
    };
    ws.onmessage = (event) => this.receive(event.data);
    ws.onclose = () => {
      if (this.ws !== ws) return;
      this.status("closed");
      if (this.closed) return;
      const base = Math.min(this.options.maxDelay, this.options.initialDelay * 2 ** this.retry++);
      this.counts.reconnects++;
      setTimeout(() => this.connect(), base * (0.5 + Math.random() / 2));
    };
  }

  subscribe(topic) {
    const request = {feed: "subscribe", topic: topic};
    const position = this.positions[topic];
    if (position) { request.epoch = position.epoch; request.offset = position.offset; }
    if (this.options.last) request.last = true;
    this.ws.send(JSON.stringify(request));
  }

  send(data) {
    if (!this.ws || this.ws.readyState !== WebSocket.OPEN) return false;
    this.ws.send(data);
    return true;
  }

  close() {
    this.closed = true;
    if (this.ws) this.ws.close();
  }

  status(value) {
    if (this.options.onStatus) this.options.onStatus(value);
  }

  receive(data) {
    let pub = null;
    if (typeof data === "string") {
      if (data.startsWith('{"feed":')) return this.control(JSON.parse(data));
      if (data.startsWith('{"t":')) {
        const obj = JSON.parse(data);
        pub = {topic: obj.t, epoch: obj.e, offset: obj.o, data: obj.d};
      }
    } else {
      pub = WsfastFeed.decodeBinary(data);
    }
    if (!pub || !(pub.topic in this.positions)) {
      if (this.options.onMessage) this.options.onMessage(data);
      return;
    }
    const position = this.positions[pub.topic];
    if (position && position.epoch === pub.epoch) {
      if (pub.offset <= position.offset) { this.counts.duplicates++; return; }
      if (pub.offset > position.offset + 1) {
        // Held back: fetch the missing ones again from the last offset received.
        this.counts.gaps++;
        if (!this.refetching.has(pub.topic)) { this.refetching.add(pub.topic); this.subscribe(pub.topic); }
        return;
      }
    }
    this.positions[pub.topic] = {epoch: pub.epoch, offset: pub.offset};
    this.counts.publications++;
    if (this.options.onPublication) this.options.onPublication(pub);
  }

  control(obj) {
    if (obj.feed === "error") {
      // Errors that say "later": ask again in a second; any other error is final.
      const later = obj.error === "history unavailable" || obj.error === "too many requests";
      if (later && obj.topic in this.positions) {
        setTimeout(() => { if (this.ws.readyState === WebSocket.OPEN) this.subscribe(obj.topic); }, 1000);
      }
      if (this.options.onError) this.options.onError(obj);
      return;
    }
    if (obj.feed !== "subscribed") return;
    this.refetching.delete(obj.topic);
    if (!obj.recovered) {
      if (this.positions[obj.topic]) this.counts.resets++;
      this.positions[obj.topic] = {epoch: obj.epoch, offset: obj.offset - obj.replayed};
    }
    if (this.options.onSubscribed) this.options.onSubscribed(obj);
  }

  // The default binary envelope: "WF", 1, topic length (2 bytes), topic, epoch length (1
  // byte), epoch, offset (8 bytes), payload; all big endian.
  static decodeBinary(buffer) {
    const bytes = new Uint8Array(buffer);
    if (bytes.length < 14 || bytes[0] !== 87 || bytes[1] !== 70 || bytes[2] !== 1) return null;
    const view = new DataView(buffer);
    const text = new TextDecoder();
    let pos = 3;
    const topicLength = view.getUint16(pos); pos += 2;
    const topic = text.decode(bytes.subarray(pos, pos + topicLength)); pos += topicLength;
    const epochLength = bytes[pos]; pos += 1;
    const epoch = text.decode(bytes.subarray(pos, pos + epochLength)); pos += epochLength;
    const offset = Number(view.getBigUint64(pos)); pos += 8;
    return {topic: topic, epoch: epoch, offset: offset, data: buffer.slice(pos)};
  }
}
