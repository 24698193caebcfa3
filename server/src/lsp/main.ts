/** Entry point of the server bundle (dist/server.js): the transport comes from argv (--node-ipc or --stdio). */
import { createConnection, ProposedFeatures } from 'vscode-languageserver/node';
import { startServer } from './server';

startServer(createConnection(ProposedFeatures.all));
