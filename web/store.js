// What the views share: the latest GET /api/vms, and who to tell when it
// changes. app.js owns the poll; views only subscribe (or ask for a poll
// now, after an action, instead of waiting for the next tick).

export const store = {
	vms: [],
	listeners: new Set(),
	poll: () => {},
	subscribe(fn) {
		this.listeners.add(fn);
		return () => this.listeners.delete(fn);
	},
	find(name) {
		return this.vms.find((v) => v.name === name);
	},
};

export function pollNow() {
	store.poll();
}
