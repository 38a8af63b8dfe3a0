// carelined's HTTP API, same origin only. The session token is kept in
// sessionStorage (this tab, this browser session) and sent only as an
// Authorization: Bearer header: never in a URL, never as a cookie.

import { STORAGE } from './config.js';

export class ApiError extends Error {
	constructor(status, body, retryAfter) {
		const err = body && body.error ? body.error : {};
		super(err.message || (status ? `HTTP ${status}` : 'network error'));
		this.status = status;
		this.code = err.code || (status ? 'http_' + status : 'network');
		this.field = err.field || null;
		this.body = body;
		this.retryAfter = retryAfter;
	}
}

let unauthorized = () => {};
let skewMs = 0;

export function onUnauthorized(fn) {
	unauthorized = fn;
}

export function session() {
	try {
		const raw = sessionStorage.getItem(STORAGE.session);
		return raw ? JSON.parse(raw) : null;
	} catch {
		return null;
	}
}

export function saveSession(s) {
	sessionStorage.setItem(STORAGE.session, JSON.stringify(s));
}

export function dropSession() {
	sessionStorage.removeItem(STORAGE.session);
}

export function authHeader() {
	const s = session();
	return s && s.token ? { Authorization: 'Bearer ' + s.token } : {};
}

// The server's clock, as far as its Date headers tell (offers' deadlines
// are the server's): differences under 2 s are noise of the 1 s resolution.
export function serverNow() {
	return Date.now() + skewMs;
}

export function noteServerDate(res, sentAt) {
	const d = Date.parse(res.headers.get('Date') || '');
	if (Number.isNaN(d)) return;
	const diff = d + 500 - (sentAt + Date.now()) / 2;
	skewMs = Math.abs(diff) < 2000 ? 0 : Math.round(diff);
}

function url(path, query) {
	if (!query) return path;
	const qs = new URLSearchParams();
	for (const [k, v] of Object.entries(query)) if (v !== undefined && v !== null && v !== '') qs.set(k, String(v));
	const s = qs.toString();
	return s ? `${path}?${s}` : path;
}

// api('GET', '/v1/calls', {query: {status: 'offered'}}) -> parsed JSON, or
// throws ApiError. A 401 on an authenticated request ends the session.
export async function api(method, path, opts = {}) {
	const { query, body, headers = {}, signal, auth = true } = opts;
	const h = { Accept: 'application/json', ...headers };
	if (body !== undefined) h['Content-Type'] = 'application/json';
	if (auth) Object.assign(h, authHeader());
	const sentAt = Date.now();
	let res;
	try {
		res = await fetch(url(path, query), {
			method,
			headers: h,
			body: body === undefined ? undefined : JSON.stringify(body),
			cache: 'no-store',
			credentials: 'omit',
			redirect: 'error',
			referrerPolicy: 'no-referrer',
			signal,
		});
	} catch (e) {
		if (e && e.name === 'AbortError') throw e;
		throw new ApiError(0, null);
	}
	noteServerDate(res, sentAt);
	let data = null;
	if (res.status !== 204 && (res.headers.get('Content-Type') || '').includes('json')) {
		data = await res.json().catch(() => null);
	}
	if (!res.ok) {
		const ra = Number.parseInt(res.headers.get('Retry-After') || '', 10);
		const err = new ApiError(res.status, data, Number.isNaN(ra) ? null : ra);
		if (res.status === 401 && auth) unauthorized(err);
		throw err;
	}
	return data;
}

// A fresh Idempotency-Key; crypto.randomUUID needs a secure context, so
// over plain http on a LAN fall back to getRandomValues.
export function newIdempotencyKey() {
	if (typeof crypto.randomUUID === 'function') return crypto.randomUUID();
	const b = crypto.getRandomValues(new Uint8Array(16));
	b[6] = (b[6] & 0x0f) | 0x40;
	b[8] = (b[8] & 0x3f) | 0x80;
	const x = Array.from(b, (v) => v.toString(16).padStart(2, '0')).join('');
	return `${x.slice(0, 8)}-${x.slice(8, 12)}-${x.slice(12, 16)}-${x.slice(16, 20)}-${x.slice(20)}`;
}
