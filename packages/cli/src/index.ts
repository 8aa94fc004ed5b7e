export { main } from './main.ts';
export type { Command, Context } from './command.ts';
