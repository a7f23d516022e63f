/**
 * Entry point. graphql-js reads NODE_ENV when it is first imported and runs extra development-time
 * checks unless it is "production" (about 5% of a warm request's CPU), so the default is set before
 * anything imports it. Set NODE_ENV=development to get those checks back.
 */
process.env.NODE_ENV ??= 'production';
const { serve } = await import('./serve.js');
await serve();
