import { OptionName } from './command-line';

/** Options of every command that talks to a peer. */
export const NETWORK_OPTIONS: readonly OptionName[] = ['no-relay', 'key', 'bind', 'connect-timeout'];
