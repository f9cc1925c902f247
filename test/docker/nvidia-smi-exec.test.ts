/**
 * nvidia-smi read inside another container through the Docker Engine API
 * (`gpu.nvidia_smi_container`), against the real test dockerd. The container's "nvidia-smi"
 * is a shell script printing the contract's RTX 4080 rows: a stand-in for the NVIDIA runtime.
 */
import { randomUUID } from 'node:crypto';
import { getEventListeners } from 'node:events';
import { describe, expect, it } from 'vitest';
import { dockerExecRunner, NvidiaSmiReader } from '../../src/gpu/nvidia-smi.js';
import { DockerClient } from '../../src/watch/docker.js';
import { docker, dockerHost, runContainer } from '../helpers/docker.js';

const FAKE = `#!/bin/sh
case "$1" in
  --query-gpu=*) echo '0, GPU-00000000-0000-0000-0000-000000000000, NVIDIA GeForce RTX 4080 SUPER, 16376, 596, 15348, 0, 43' ;;
  *) echo '4242, /usr/bin/ollama, 580, GPU-00000000-0000-0000-0000-000000000000' ;;
esac`;

const DRIVER_GONE = `#!/bin/sh
echo "NVIDIA-SMI has failed because it couldn't communicate with the NVIDIA driver. Make sure that the latest NVIDIA driver is installed and running."
exit 9`;

/** A running container holding `/tmp/smi` (the script) until the test ends. */
async function containerWith(
  script: string,
  label = 'ollama-fleet.role=ollama-test',
): Promise<string> {
  const name = `fleet-smi-${randomUUID().slice(0, 8)}`;
  await runContainer(
    name,
    `busybox mkdir -p /tmp; cat > /tmp/smi <<'SCRIPT'\n${script}\nSCRIPT\nbusybox chmod +x /tmp/smi; echo > /tmp/ready; sleep 600`,
    [label],
  );
  const docker = new DockerClient({ host: dockerHost() });
  for (let i = 0; i < 100; i++) {
    const found = await docker.find(name);
    if (found?.running) {
      const probe = await docker.exec(found.id, ['cat', '/tmp/ready'], { timeoutMs: 5_000 });
      if (probe.exitCode === 0) break;
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  return name;
}

function reader(target: string | { label: string }, command = '/tmp/smi') {
  return new NvidiaSmiReader({
    command,
    timeoutMs: 10_000,
    now: Date.now,
    runner: dockerExecRunner(new DockerClient({ host: dockerHost() }), target),
  });
}

describe('nvidia-smi through docker exec', () => {
  it('reads the GPU and its processes from inside the named container', async () => {
    const name = await containerWith(FAKE);
    const telemetry = await reader(name).read();
    expect(telemetry.available).toBe(true);
    if (!telemetry.available) return;
    expect(telemetry.gpus).toHaveLength(1);
    expect(telemetry.gpus[0]?.name).toBe('NVIDIA GeForce RTX 4080 SUPER');
    expect(telemetry.gpus[0]?.total).toBe(16376 * 2 ** 20);
    expect(telemetry.processes?.[0]?.pid).toBe(4242);
  });

  it("leaves nothing listening on the caller's AbortSignal after each reading", async () => {
    const name = await containerWith(FAKE);
    const signal = new AbortController().signal;
    const smi = reader(name);
    for (let i = 0; i < 12; i++) expect((await smi.read(signal)).available).toBe(true);
    expect(getEventListeners(signal, 'abort')).toHaveLength(0);
  });

  it('finds the container by label as well as by name', async () => {
    await containerWith(FAKE);
    const telemetry = await reader({ label: 'ollama-fleet.role=ollama-test' }).read();
    expect(telemetry.available).toBe(true);
  });

  it('follows the container when it is replaced between readings (an Ollama recreate)', async () => {
    const label = `ollama-fleet.role=ollama-${randomUUID().slice(0, 8)}`;
    const first = await containerWith(FAKE, label);
    const smi = reader({ label });
    expect((await smi.read()).available).toBe(true);
    await docker('rm', '-f', first);
    const gone = await smi.read();
    expect(gone.available).toBe(false);
    await containerWith(FAKE, label);
    expect((await smi.read()).available).toBe(true);
  });

  it('says the driver failed when nvidia-smi does, with its own words', async () => {
    const name = await containerWith(DRIVER_GONE);
    const telemetry = await reader(name).read();
    expect(telemetry.available).toBe(false);
    if (telemetry.available) return;
    expect(telemetry.failure.kind).toBe('driver');
    expect(telemetry.failure.message).toContain("couldn't communicate with the NVIDIA driver");
  });

  it('says what is missing: the command in the container, or the container', async () => {
    const name = await containerWith(FAKE);
    const noCommand = await reader(name, '/usr/bin/nvidia-smi').read();
    expect(noCommand.available).toBe(false);
    if (!noCommand.available) {
      expect(noCommand.failure.kind).toBe('missing');
      expect(noCommand.failure.message).toContain(
        `/usr/bin/nvidia-smi is not in container ${name}`,
      );
    }
    const noContainer = await reader('fleet-no-such-container').read();
    expect(noContainer.available).toBe(false);
    if (!noContainer.available) {
      expect(noContainer.failure.kind).toBe('missing');
      expect(noContainer.failure.message).toContain('fleet-no-such-container is not found');
    }
  });
});
