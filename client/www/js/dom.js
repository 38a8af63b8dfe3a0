// DOM building without markup strings: every text goes in as textContent,
// every attribute through setAttribute, so data (personal data) can never
// become markup. Nothing in the console uses innerHTML.

const SVG_NS = 'http://www.w3.org/2000/svg';

function apply(el, props) {
	if (!props) return el;
	for (const [k, v] of Object.entries(props)) {
		if (v === undefined || v === null || v === false) continue;
		if (k === 'class') el.setAttribute('class', Array.isArray(v) ? v.filter(Boolean).join(' ') : v);
		else if (k === 'text') el.textContent = String(v);
		else if (k === 'on') for (const [ev, fn] of Object.entries(v)) el.addEventListener(ev, fn);
		else if (k === 'dataset') for (const [dk, dv] of Object.entries(v)) el.dataset[dk] = String(dv);
		else if (k === 'hidden') el.hidden = true;
		else if (k === 'disabled') el.disabled = true;
		else if (k === 'checked') el.checked = true;
		else if (k === 'value') el.value = String(v);
		else el.setAttribute(k, v === true ? '' : String(v));
	}
	return el;
}

function append(el, children) {
	for (const c of children.flat(Infinity)) {
		if (c === undefined || c === null || c === false) continue;
		el.append(c instanceof Node ? c : document.createTextNode(String(c)));
	}
	return el;
}

// h('li', {class: 'x', text: name}) or h('p', null, 'a', h('b', null, 'b'))
export function h(tag, props, ...children) {
	return append(apply(document.createElement(tag), props), children);
}

export function svg(tag, props, ...children) {
	return append(apply(document.createElementNS(SVG_NS, tag), props), children);
}

export function $(sel, root = document) {
	return root.querySelector(sel);
}

export function $$(sel, root = document) {
	return Array.from(root.querySelectorAll(sel));
}

export function clear(el) {
	el.replaceChildren();
	return el;
}

export function show(el, on = true) {
	el.hidden = !on;
}

// Text fields where typed keys belong to the field, not to shortcuts.
export function isTyping(target) {
	if (!(target instanceof Element)) return false;
	if (target.isContentEditable) return true;
	if (target.tagName === 'TEXTAREA' || target.tagName === 'SELECT') return true;
	if (target.tagName !== 'INPUT') return false;
	return !['checkbox', 'radio', 'button', 'submit', 'reset'].includes(target.type);
}
