// The operators' event stream, GET /v1/events (text/event-stream), read
// with fetch() and a stream parser because EventSource cannot send the
// Authorization header. Reconnects by itself with Last-Event-ID, backing
// off 1 -> 10 s; a connection silent for longer than the keepalives allow
// is taken for dead and replaced. A stream the server ends on purpose
// (`shutdown`: the instance is stopping; `ended`: the session is over)
// is replaced at once: by another instance, or by the sign-in screen
// when the reconnect answers 401.

import { LIMITS } from './config.js';
import { authHeader, noteServerDate } from './api.js';

// Feed text, get events: the SSE line protocol (id, event, data, retry;
// comments start with ':'), CR, LF or CRLF line ends.
export class SseParser {
	constructor(onEvent, onRetry) {
		this.onEvent = onEvent;
		this.onRetry = onRetry || (() => {});
		this.buf = '';
		this.first = true;
		this.reset();
		this.lastId = '';
	}

	reset() {
		this.type = '';
		this.data = [];
		this.id = null;
	}

	push(text) {
		if (this.first && text) {
			if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
			this.first = false;
		}
		this.buf += text;
		for (;;) {
			const m = /\r\n|\r|\n/.exec(this.buf);
			if (!m) break;
			// A lone CR at the very end may be half of a CRLF still coming.
			if (m[0] === '\r' && m.index === this.buf.length - 1) break;
			const line = this.buf.slice(0, m.index);
			this.buf = this.buf.slice(m.index + m[0].length);
			this.line(line);
		}
	}

	line(line) {
		if (line === '') {
			if (this.id !== null) this.lastId = this.id;
			if (this.data.length) {
				this.onEvent({ id: this.lastId, type: this.type || 'message', data: this.data.join('\n') });
			}
			this.reset();
			return;
		}
		if (line[0] === ':') return;
		const i = line.indexOf(':');
		const field = i < 0 ? line : line.slice(0, i);
		let value = i < 0 ? '' : line.slice(i + 1);
		if (value[0] === ' ') value = value.slice(1);
		if (field === 'data') this.data.push(value);
		else if (field === 'event') this.type = value;
		else if (field === 'id' && !value.includes('\0')) this.id = value;
		else if (field === 'retry' && /^\d+$/.test(value)) this.onRetry(Number(value));
	}
}

// startEvents({onEvent, onStatus, onUnauthorized}) -> {stop()}.
// onStatus('connecting' | 'live' | 'reconnecting', {reconnected}).
export function startEvents({ onEvent, onStatus, onUnauthorized, url = '/v1/events' }) {
	let stopped = false;
	let ctrl = null;
	let lastId = '';
	let backoff = LIMITS.sseBackoffMinMs;
	let connectedBefore = false;
	let wake = null;
	let now = false; // the server asked for an immediate reconnect

	const sleep = (ms) =>
		new Promise((resolve) => {
			const timer = setTimeout(resolve, ms);
			wake = () => {
				clearTimeout(timer);
				resolve();
			};
		});

	async function once() {
		ctrl = new AbortController();
		const headers = { Accept: 'text/event-stream', ...authHeader() };
		if (lastId) headers['Last-Event-ID'] = lastId;
		const sentAt = Date.now();
		const res = await fetch(url, {
			headers,
			cache: 'no-store',
			credentials: 'omit',
			redirect: 'error',
			referrerPolicy: 'no-referrer',
			signal: ctrl.signal,
		});
		noteServerDate(res, sentAt);
		if (res.status === 401) {
			stopped = true;
			onUnauthorized();
			return;
		}
		if (!res.ok || !res.body) throw new Error('event stream: HTTP ' + res.status);
		onStatus('live', { reconnected: connectedBefore });
		connectedBefore = true;
		const openedAt = Date.now();

		const parser = new SseParser(
			(ev) => {
				if (ev.id) lastId = ev.id;
				if (ev.type === 'shutdown' || ev.type === 'ended') {
					now = true;
					return;
				}
				let msg;
				try {
					msg = JSON.parse(ev.data);
				} catch {
					return;
				}
				if (msg && typeof msg === 'object') {
					if (!msg.type) msg.type = ev.type;
					try {
						onEvent(msg);
					} catch (e) {
						console.error('event handler failed', e);
					}
				}
			},
			() => {},
		);
		const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
		let watchdog = setTimeout(() => ctrl.abort(), LIMITS.sseSilenceMs);
		try {
			for (;;) {
				const { value, done } = await reader.read();
				if (done) break;
				clearTimeout(watchdog);
				watchdog = setTimeout(() => ctrl.abort(), LIMITS.sseSilenceMs);
				parser.push(value);
				// A connection that held for a while resets the back-off.
				if (Date.now() - openedAt > 30000) backoff = LIMITS.sseBackoffMinMs;
			}
		} finally {
			clearTimeout(watchdog);
		}
	}

	(async () => {
		onStatus('connecting', {});
		while (!stopped) {
			try {
				await once();
			} catch {
				// Network error, abort by the watchdog, server going away:
				// all end in a reconnect below.
			}
			if (stopped) break;
			onStatus('reconnecting', {});
			if (now) {
				now = false;
				backoff = LIMITS.sseBackoffMinMs;
				continue;
			}
			await sleep(backoff);
			backoff = Math.min(backoff * 2, LIMITS.sseBackoffMaxMs);
		}
	})();

	return {
		stop() {
			stopped = true;
			if (ctrl) ctrl.abort();
			if (wake) wake();
		},
		lastEventId: () => lastId,
	};
}
