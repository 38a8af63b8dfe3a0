// Every constant of the console in one place. What carelined decides (the
// services, matching's speeds, detour and reach) comes from GET /v1/config
// instead (settings.js), so it cannot go stale after a reload.

// The district box (Hetang, Zhuzhou) the plot draws.
export const DISTRICT = Object.freeze({
	latMin: 27.84,
	latMax: 27.92,
	lonMin: 113.14,
	lonMax: 113.24,
	timeZone: 'Asia/Shanghai',
	// Shanghai keeps +08:00 all year: a wanted time typed in the district's
	// local form is sent with this offset.
	utcOffset: '+08:00',
});

export const OPEN_STATUSES = Object.freeze(['unmatched', 'new', 'offered', 'accepted']);
export const MOBILITIES = Object.freeze(['walk', 'ebike', 'car', 'wheelchair', 'bedridden']);
export const TRAVEL_MODES = Object.freeze(['walk', 'ebike', 'car', 'shuttle']);

export const LIMITS = Object.freeze({
	// An offer this close to its respond_by is shown as about to expire.
	deadlineWarnS: 30,
	// Calls per status loaded for the board.
	boardPageSize: 100,
	// Past calls shown on a resident's card.
	residentCalls: 3,
	// A call.ringing older than this (a replay after a reconnect) pops nothing.
	ringingMaxAgeS: 120,
	// Event stream: reconnect back-off and the silence after which the
	// connection is taken for dead (keepalives come every 15 s).
	sseBackoffMinMs: 1000,
	sseBackoffMaxMs: 10000,
	sseSilenceMs: 45000,
	toastMs: 6000,
	// The call the intake follows is fetched again this often while it
	// waits on providers, so that one lost update (a failed fetch on either
	// side of the event stream) cannot leave it waiting for good.
	followRefreshMs: 15000,
	previewDelayMs: 250,
	// GET /v1/config is read again this often (and on every board reload).
	settingsRefreshMs: 300000,
});

// Where the browser keeps things. The session token lives in
// sessionStorage only (gone with the tab); the language is no secret.
export const STORAGE = Object.freeze({
	session: 'careline.session',
	lang: 'careline.lang',
});
