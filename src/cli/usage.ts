export const USAGE = `Usage: nestjs-iroh <command> [options]

Talks to NestJS microservices served over iroh (nestjs-iroh's IrohServer).

Commands:
  keygen <file>                     write a new secret key file (mode 600); prints its endpoint id
  id <file>                         print the endpoint id of a key file
  call <peer> <pattern> <json>      send a request; prints the reply as JSON, one line per
                                    value when the reply is a stream
  emit <peer> <pattern> <json>      send an event (no reply)
  ping <peer>                       time round trips to the peer and show the path (direct or relay)

<peer> is the service's ticket (endpoint…), or its endpoint id when discovery can find it.
<pattern> is a string, or a JSON object for object patterns: '{"cmd":"sum"}'.
<json> is the payload, as JSON: '{"id":1}', '[1,2]', '"text"', 'null'.

Options (call, emit, ping):
  --no-relay               no relay servers and no discovery: reach the peer by the
                           direct addresses in its ticket (offline, LAN)
  --key <file>             use this key file as the caller's identity (default: a new one)
  --bind <host:port>       local UDP address to bind
  --connect-timeout <ms>   give up connecting after this long (default 10000)
  --timeout <ms>           call: give up waiting for the reply (default: wait)
Options (ping):
  --count <n>              pings to send (default 4; 0: until Ctrl-C)
  --interval <ms>          time between pings (default 1000)
  --timeout <ms>           wait this long for each reply (default 5000)
  --pattern <pattern>      request sent as the ping (default health.check); any reply,
                           an error reply included, counts as an answer

  -h, --help               show this help
  -v, --version            show the version

Exit status: 0 success, 1 the command failed (error reply, peer unreachable…),
2 wrong command line, 130 interrupted.`;
