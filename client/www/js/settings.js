// What carelined says about itself (GET /v1/config): the services and the
// matching figures (speeds, detour, the minutes of reach). Read when an
// operator enters the console and again whenever the board is reloaded
// (the refresh button, a reconnect of the event stream, every few
// minutes), so a reload of carelined's configuration reaches the console
// without a page reload. Constants of the console itself stay in config.js.

import { api } from './api.js';
import { TRAVEL_MODES } from './config.js';

let current = null;
const listeners = [];

// Fetch the configuration; the listeners run when something changed.
export async function loadSettings() {
	const next = await api('GET', '/v1/config');
	const changed = JSON.stringify(next) !== JSON.stringify(current);
	current = next;
	if (changed) for (const f of listeners) f(current);
	return current;
}

export function onSettings(f) {
	listeners.push(f);
}

export function dropSettings() {
	current = null;
}

// The services carelined dispatches, in its order ([] before the first load).
export function services() {
	return current ? current.services : [];
}

// Travel speeds (km/h) of the providers' travel modes, the street-over-
// straight-line detour and the reach in minutes; null before the first load.
export function travel() {
	if (!current) return null;
	const m = current.matching;
	const speedKmh = {};
	for (const mode of TRAVEL_MODES) if (m.speed_kmh[mode] > 0) speedKmh[mode] = m.speed_kmh[mode];
	return { speedKmh, detour: m.detour_factor, maxMinutes: m.max_minutes };
}
