// What the intake's parts share: the call being taken (state), the
// elements they draw into (el, filled by initIntake), the plot and the
// detail opener (view), and the sequence numbers that let a late answer
// know it is no longer wanted (latest: the newest request of each kind).

export const state = {
	callerPhone: '',
	resident: null,
	results: [],
	history: null,
	// GET /v1/residents/{id}/context: null while loading or when it failed
	// (the card then shows neither line), else its body.
	context: null,
	// The health question: null, {loading}, {data} or {error}.
	clinic: null,
	preview: null,
	callId: null,
	idemKey: null,
	idemBody: null,
	duplicateOk: false,
	registering: false,
	pick: null,
	busy: false,
	distances: new Map(),
};

export const el = {};

export const view = {
	plot: null,
	openDetail: () => {},
};

export const latest = {
	lookup: 0,
	preview: 0,
	clinic: 0,
};
