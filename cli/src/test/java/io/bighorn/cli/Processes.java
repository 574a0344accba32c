package io.bighorn.cli;

import static org.assertj.core.api.Assumptions.assumeThat;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Real processes for the multi-process tests: the distribution jar's commands and external clients
 * (qemu-img, fio, nbdinfo). Every process started here is stopped by {@link #close}, also on failure.
 */
final class Processes implements AutoCloseable {
    private final List<Proc> started = new ArrayList<>();
    private final Path logs;

    Processes(Path logs) {
        this.logs = logs;
    }

    /** A running process whose merged output is collected line by line. */
    static final class Proc {
        final Process process;
        final String name;
        final BlockingQueue<String> lines = new LinkedBlockingQueue<>();

        @SuppressWarnings("JdkObsolete") // appended by the reader thread while tests read it: must be synchronized
        final StringBuffer output = new StringBuffer();

        private final Thread reader;

        Proc(String name, Process process) {
            this.name = name;
            this.process = process;
            this.reader = Thread.ofPlatform().daemon().name("out-" + name).start(() -> {
                try (BufferedReader r =
                        new BufferedReader(new InputStreamReader(process.getInputStream(), StandardCharsets.UTF_8))) {
                    String line;
                    while ((line = r.readLine()) != null) {
                        output.append(line).append('\n');
                        lines.add(line);
                    }
                } catch (IOException e) {
                    output.append("[output closed: ").append(e.getMessage()).append("]\n");
                }
            });
        }

        /** Waits for a line matching {@code regex} and returns its first group (or the whole line). */
        String await(String regex, Duration timeout) throws InterruptedException {
            Pattern p = Pattern.compile(regex);
            long deadline = System.nanoTime() + timeout.toNanos();
            while (true) {
                long left = deadline - System.nanoTime();
                String line = left <= 0 ? null : lines.poll(left, TimeUnit.NANOSECONDS);
                if (line == null) {
                    throw new AssertionError(name + ": no line matching " + regex + " within " + timeout + "; alive="
                            + process.isAlive() + "; output:\n" + output);
                }
                Matcher m = p.matcher(line);
                if (m.find()) {
                    return m.groupCount() > 0 ? m.group(1) : line;
                }
            }
        }

        /** Waits for the process to end and returns its exit code. */
        int exit(Duration timeout) throws InterruptedException {
            if (!process.waitFor(timeout.toMillis(), TimeUnit.MILLISECONDS)) {
                throw new AssertionError(name + " still running after " + timeout + "; output:\n" + output);
            }
            reader.join(timeout.toMillis()); // all of its output has been read
            return process.exitValue();
        }

        void kill() {
            process.descendants().forEach(ProcessHandle::destroyForcibly);
            process.destroyForcibly(); // SIGKILL
        }

        /** Sends signal {@code name} (STOP, CONT, ...) to the process with kill(1). */
        void signal(String name) throws IOException, InterruptedException {
            Process kill = new ProcessBuilder("kill", "-" + name, Long.toString(process.pid()))
                    .redirectErrorStream(true)
                    .start();
            String out = new String(kill.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
            if (kill.waitFor() != 0) {
                throw new AssertionError("kill -" + name + " " + this.name + ": " + out);
            }
        }

        /** SIGTERM, then waits for a clean exit. */
        int stop(Duration timeout) throws InterruptedException {
            process.destroy();
            return exit(timeout);
        }
    }

    /** Bytes the files under {@code dir} hold on disk, as du counts them. */
    static long allocated(Path dir) throws IOException, InterruptedException {
        Process du = new ProcessBuilder("du", "-s", "-B1", dir.toString()).start();
        String out = new String(du.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        du.waitFor();
        String first = out.strip().split("\\s", 2)[0];
        return first.isEmpty() ? 0 : Long.parseLong(first);
    }

    /**
     * fio's random 4 KiB writes through NBD at depth 16 with crc32c verification (seed 1234); options in
     * {@code extra} come last, so they win over these.
     */
    static String[] fioVerify(String nbd, String size, String... extra) {
        List<String> args = new ArrayList<>(List.of(
                "fio",
                "--name=verify",
                "--ioengine=nbd",
                "--uri=" + nbd,
                "--rw=randwrite",
                "--bs=4k",
                "--size=" + size,
                "--iodepth=16",
                "--verify=crc32c",
                "--verify_fatal=1",
                "--randseed=1234"));
        args.addAll(List.of(extra));
        return args.toArray(String[]::new);
    }

    /** The SHA-256 of what each replica directory reads as, from {@code bighorn replica inspect --checksum}. */
    List<String> checksums(List<Path> dirs) throws Exception {
        List<String> sums = new ArrayList<>();
        for (Path dir : dirs) {
            Proc inspect = bighorn(
                    "inspect-" + dir.getFileName(), Map.of(), "replica", "inspect", dir.toString(), "--checksum");
            org.assertj.core.api.Assertions.assertThat(inspect.exit(Duration.ofMinutes(2)))
                    .as("inspect output:%n%s", inspect.output)
                    .isZero();
            sums.add(inspect.await("sha256 +(\\p{XDigit}{64})", Duration.ofMinutes(2)));
        }
        return sums;
    }

    private int ctlRuns;

    /** Runs {@code bighorn ctl --engine CONTROL ARGS --json}, expects success and returns its JSON. */
    com.fasterxml.jackson.databind.JsonNode ctl(String control, String... args) throws Exception {
        List<String> all = new ArrayList<>(List.of("ctl", "--engine", control));
        all.addAll(List.of(args));
        all.add("--json");
        Proc p = bighorn("ctl-" + ++ctlRuns, Map.of(), all.toArray(String[]::new));
        org.assertj.core.api.Assertions.assertThat(p.exit(Duration.ofMinutes(5)))
                .as("ctl output:%n%s", p.output)
                .isZero();
        String out = p.output.toString();
        int array = out.indexOf('[');
        int object = out.indexOf('{');
        int start = array >= 0 && (object < 0 || array < object) ? array : object;
        return new com.fasterxml.jackson.databind.ObjectMapper().readTree(out.substring(start));
    }

    /** Starts {@code bighorn replica} on {@code dir}, listening on {@code listen} (e.g. 127.0.0.1:0). */
    Proc replica(String name, Map<String, String> env, Path dir, long size, String listen) throws IOException {
        return bighorn(
                name, env, "replica", "--dir", dir.toString(), "--size", Long.toString(size), "--listen", listen);
    }

    /** A started {@code bighorn engine}: the process, its NBD URL and its control address. */
    record Engine(Proc proc, String nbd, String control) {}

    /** Starts {@code bighorn engine} for volume vol0 on {@code replicaUrls}, on free ports, and waits for it. */
    Engine engine(String name, Map<String, String> env, long size, List<String> replicaUrls, int timeoutSeconds)
            throws IOException, InterruptedException {
        List<String> args = new ArrayList<>(List.of("engine", "--volume", "vol0", "--size", Long.toString(size)));
        for (String url : replicaUrls) {
            args.addAll(List.of("--replica", url));
        }
        args.addAll(List.of(
                "--nbd", "127.0.0.1:0", "--control", "127.0.0.1:0", "--timeout", Integer.toString(timeoutSeconds)));
        Proc proc = bighorn(name, env, args.toArray(String[]::new));
        String line = proc.await("serving (nbd://\\S+, control on \\S+)", Duration.ofSeconds(60));
        return new Engine(proc, line.substring(0, line.indexOf(',')), line.substring(line.lastIndexOf(' ') + 1));
    }

    /** Runs {@code bighorn ARGS} from the distribution jar. */
    Proc bighorn(String name, Map<String, String> env, String... args) throws IOException {
        Path jar = Path.of("target", "bighorn.jar").toAbsolutePath();
        List<String> command = new ArrayList<>(
                List.of(ProcessHandle.current().info().command().orElse("java"), "-Xmx512m", "-jar", jar.toString()));
        command.addAll(List.of(args));
        return start(name, env, command);
    }

    /** Runs an external client program; a missing one fails under CI and skips the test elsewhere. */
    Proc tool(String name, String... command) throws IOException {
        requireTool(command[0]);
        return start(name, Map.of(), List.of(command));
    }

    static void requireTool(String tool) {
        boolean present =
                Files.isExecutable(Path.of("/usr/bin", tool)) || Files.isExecutable(Path.of("/usr/local/bin", tool));
        if (!present && System.getenv("CI") != null) {
            throw new AssertionError(tool + " is not installed; scripts/test installs it");
        }
        assumeThat(present).as(tool + " is installed").isTrue();
    }

    private Proc start(String name, Map<String, String> env, List<String> command) throws IOException {
        ProcessBuilder pb = new ProcessBuilder(command).redirectErrorStream(true);
        pb.environment().putAll(env);
        Proc p = new Proc(name, pb.start());
        started.add(p);
        return p;
    }

    @Override
    public void close() throws IOException {
        for (Proc p : started.reversed()) {
            p.kill();
            try {
                p.process.waitFor(30, TimeUnit.SECONDS);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
            Files.writeString(logs.resolve(p.name + ".log"), p.output.toString());
        }
    }
}
