// Test-only preload (`node --import`): from the first SIGTERM on, keep the event loop alive forever, as a
// request or read that never settles would. Lets io.test.ts check that a stopped run still ends in time.
process.once('SIGTERM', () => setInterval(() => {}, 1000));
