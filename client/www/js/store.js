// What the console knows: calls by id (as GET /v1/calls/{id} last said),
// the events seen for each call, the providers (admins) for the plot.
// Views subscribe and redraw from here, so every screen shows one truth.

import { api, ApiError } from './api.js';
import { LIMITS, OPEN_STATUSES } from './config.js';

const calls = new Map();
const callEvents = new Map();
const providers = new Map();
const listeners = new Set();
const inflight = new Map();
let generation = 0; // bumped by reset()
const unseen = new Set(); // calls with events noted since their last redraw

function emit(kind, payload) {
	for (const fn of listeners) {
		try {
			fn(kind, payload);
		} catch (e) {
			console.error('store listener failed', e);
		}
	}
}

export function subscribe(fn) {
	listeners.add(fn);
	return () => listeners.delete(fn);
}

export function getCall(id) {
	return calls.get(Number(id)) || null;
}

export function allCalls() {
	return Array.from(calls.values());
}

export function openCalls() {
	return allCalls().filter((c) => OPEN_STATUSES.includes(c.status));
}

// A snapshot older than the one held (a list or an answer overtaken by a
// fresher GET) must not undo what the console already shows.
function isOlder(call, cur) {
	if (!cur || !call.updated_at || !cur.updated_at) return false;
	return Date.parse(call.updated_at) < Date.parse(cur.updated_at);
}

export function upsertCall(call) {
	if (!call || !call.id) return;
	const cur = calls.get(Number(call.id));
	if (isOlder(call, cur)) return;
	// Nothing new (a refresh that found the call as it was): no redraw. A
	// redraw replaces the buttons, and one between a press and its release
	// swallows the click (the detail's Cancel, pressed as it was opened).
	if (cur && !unseen.has(Number(call.id)) && JSON.stringify(cur) === JSON.stringify(call)) return;
	unseen.delete(Number(call.id));
	calls.set(Number(call.id), call);
	emit('call', call);
}

export function eventsFor(id) {
	return callEvents.get(Number(id)) || [];
}

export function noteEvent(ev) {
	if (!ev.call_id) return;
	const id = Number(ev.call_id);
	const list = callEvents.get(id) || [];
	if (!list.some((e) => e.id === ev.id)) {
		list.push(ev);
		list.sort((a, b) => Number(a.id) - Number(b.id));
		callEvents.set(id, list);
		unseen.add(id);
	}
}

// A refresh that failed for a passing reason (503 database_busy, 429, a
// lost connection) is tried again after these waits: the event that asked
// for it will not come again, and without it the console would show the
// old state for good (an offer accepted, the page still waiting).
const REFRESH_RETRY_MS = [500, 1000, 2000, 4000, 8000];

const transient = (e) => e.status === 0 || e.status === 429 || e.status >= 500;
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

// Fetch a call again (after an event about it); concurrent asks share one
// request, and one more follows if events kept coming meanwhile.
export function refreshCall(id) {
	id = Number(id);
	const cur = inflight.get(id);
	if (cur) {
		cur.again = true;
		return cur.promise;
	}
	const entry = { again: false, promise: null };
	const gen = generation;
	entry.promise = (async () => {
		let failed = 0;
		try {
			do {
				entry.again = false;
				try {
					upsertCall(await api('GET', `/v1/calls/${id}`));
					failed = 0;
				} catch (e) {
					if (!(e instanceof ApiError) || e.status === 401) throw e;
					if (e.status === 404) break;
					if (transient(e) && failed < REFRESH_RETRY_MS.length) {
						await sleep(REFRESH_RETRY_MS[failed++]);
						// Signed out meanwhile: nothing to refresh any more.
						entry.again = gen === generation;
					}
				}
			} while (entry.again);
		} finally {
			inflight.delete(id);
		}
	})();
	entry.promise = entry.promise.catch(() => {});
	inflight.set(id, entry);
	return entry.promise;
}

// The board's truth: every open call, one request per open status.
export async function loadOpenCalls() {
	const pages = await Promise.all(
		OPEN_STATUSES.map((status) => api('GET', '/v1/calls', { query: { status, limit: LIMITS.boardPageSize } })),
	);
	const open = new Set();
	for (const page of pages) {
		for (const c of page.items || []) {
			open.add(Number(c.id));
			if (!isOlder(c, calls.get(Number(c.id)))) calls.set(Number(c.id), c);
		}
	}
	// Calls we thought open that no list has any more were closed while we
	// were not listening: fetch them to learn how.
	const stale = allCalls().filter((c) => OPEN_STATUSES.includes(c.status) && !open.has(Number(c.id)));
	await Promise.all(stale.map((c) => refreshCall(c.id)));
	emit('reload', null);
}

export function setProviders(list) {
	providers.clear();
	for (const p of list) providers.set(Number(p.id), p);
	emit('providers', null);
}

export function upsertProvider(p) {
	providers.set(Number(p.id), p);
	emit('providers', null);
}

export function getProvider(id) {
	return providers.get(Number(id)) || null;
}

export function allProviders() {
	return Array.from(providers.values()).sort((a, b) => a.id - b.id);
}

// Everything personal goes when the session ends.
export function reset() {
	generation++;
	unseen.clear();
	calls.clear();
	callEvents.clear();
	providers.clear();
	emit('reset', null);
}
