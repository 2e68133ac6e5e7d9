// How msup's own bootstrap proves to its environment's Runtime API that it is that environment: a secret
// msup puts in the environment's variables (only msup's user and root can read them), sent back with each
// request. Shared by the server (runtime-api.ts) and the bootstrap, which must stay free of node:http.

/** The variable the token comes in; the bootstrap takes it out of process.env before loading the handler. */
export const TOKEN_VARIABLE = 'MSUP_RUNTIME_TOKEN';

/** The request header the bootstrap sends it in. */
export const TOKEN_HEADER = 'x-msup-runtime-token';
