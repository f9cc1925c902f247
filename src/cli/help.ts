/** `fleet help [command]`. */
import type { ParsedCommand } from './args.js';
import type { CliEnvironment } from './context.js';

const COMMON = `  --config PATH      fleet.yaml to read (default ./fleet.yaml)
  --state-dir DIR    where fleet-state.json lives (default: state_dir of fleet.yaml)
  --ladder NAME      the ladder to act on (default: the first in fleet.yaml)
  --json             print JSON for programs
  --pretty           human-readable log lines (serve)
  --log-level LEVEL  trace, debug, info, warn, error (default: warn; serve: info)`;

const TEXTS: Record<string, string> = {
  '': `fleet: queue, schedule and protect the jobs of one Ollama server

Usage: fleet <command> [flags]

Commands:
  status             each ladder's rung, incidents, cooldown and history; Ollama's models
                     (--watch: redraw every 2 s until Ctrl-C)
  downgrade          step a ladder down to its next smaller model
  upgrade            step a ladder up to its next larger model
  reset              put a ladder back at its top (largest) model
  set <model>        put a ladder on one of its models
  serve              run the supervisor (HTTP API on api.port, default 5001)
  submit             send jobs to a supervisor and wait for them (see fleet help submit)
  jobs [ID]          list jobs (--status, --model, --limit), or show one
  sim                an Ollama simulator with a simulated GPU (see the README)
  demo               the simulator and the supervisor together (npm run demo)
  detect [FILE]      flag the VRAM trouble in a saved Ollama log (a file, or stdin)
  help [command]     this text, or one command's
  version            print the version

When a supervisor for the same state file is running, ladder commands go through its API so
it acts at once; otherwise they change the state file under its lock.
fleet-status, fleet-reset and fleet-downgrade are aliases of the commands they name.

Flags:
${COMMON}
  --reason TEXT      why (downgrade, upgrade, reset, set): kept in the ladder's history
  --port N           serve: listen on N instead of api.port

Exit codes: 0 done, 1 refused (e.g. already at the bottom) or failed, 2 usage or config error.
`,
  submit: `fleet submit [--url URL] [--token T] [--model M] [--priority P] [--prompt TEXT]
             [--batch | --random N | --spam N] [--delay S] [--no-check] [--json]

Sends jobs to the supervisor at --url (default http://localhost:5001, or FLEET_URL) with the
token from --token or FLEET_API_TOKEN, then waits for them with a progress bar and prints a
summary: completed, failed, p50/p95 latency. Exit 1 when a job failed.

  --model M      the model, or a ladder alias (default: fleet, the first ladder's rung)
  --priority P   high, normal (default) or low
  --prompt TEXT  the prompt of a single job
  --batch        the predefined set of four jobs across priorities
  --random N     N jobs with random catalogue models, prompts and priorities
  --spam N       N jobs submitted without waiting for them
  --delay S      seconds between submissions
  --no-check     skip the supervisor health check before submitting
`,
  jobs: `fleet jobs [ID] [--url URL] [--token T] [--status S] [--model M] [--limit N] [--json]

Without ID, lists the latest jobs (newest first); with ID, shows that job and its result.
`,
  serve: `fleet serve [--config PATH] [--port N] [--pretty]

Runs the supervisor: the HTTP API (health, ladder admin) on api.host:api.port and the ladder
schedules of fleet.yaml. Stops cleanly on SIGTERM or SIGINT; a second signal forces it.
`,
};

export async function helpCommand(parsed: ParsedCommand, cli: CliEnvironment): Promise<number> {
  const topic = parsed.positionals[0] ?? '';
  cli.stdout(TEXTS[topic] ?? TEXTS[''] ?? '');
  return 0;
}
