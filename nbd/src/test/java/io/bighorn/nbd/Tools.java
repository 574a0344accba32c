package io.bighorn.nbd;

import static org.assertj.core.api.Assertions.fail;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * Runs real NBD client programs. A missing program fails the test when {@code CI} is set (CI installs
 * them through scripts/test) and skips it otherwise.
 */
final class Tools {
    private Tools() {}

    /** A finished process: its exit code and its output (stdout and stderr together). */
    record Result(int exit, String output) {}

    /** The absolute path of a program on the PATH (or in /usr/sbin, /sbin). */
    static String require(String program) {
        String path = System.getenv().getOrDefault("PATH", "/usr/bin:/bin") + ":/usr/sbin:/sbin";
        for (String d : path.split(":", -1)) {
            Path p = Path.of(d.isEmpty() ? "." : d, program);
            if (Files.isExecutable(p)) {
                return p.toString();
            }
        }
        String message = program + " is not installed (Debian packages: see TEST_PACKAGES in scripts/test)";
        if (System.getenv("CI") != null) {
            fail(message);
        }
        assumeTrue(false, message);
        throw new AssertionError(message);
    }

    /** Runs a command to its end; kills it (and fails) if it outlives the timeout. */
    static Result run(Path workDir, Duration timeout, List<String> command) throws IOException, InterruptedException {
        Path log = Files.createTempFile(workDir, "proc", ".log");
        Process p = new ProcessBuilder(command)
                .directory(workDir.toFile())
                .redirectErrorStream(true)
                .redirectOutput(log.toFile())
                .redirectInput(ProcessBuilder.Redirect.from(Path.of("/dev/null").toFile()))
                .start();
        try {
            if (!p.waitFor(timeout.toMillis(), TimeUnit.MILLISECONDS)) {
                fail(String.join(" ", command) + " did not finish within " + timeout + ":\n"
                        + Files.readString(log, StandardCharsets.UTF_8));
            }
            return new Result(p.exitValue(), Files.readString(log, StandardCharsets.UTF_8));
        } finally {
            p.descendants().forEach(ProcessHandle::destroyForcibly);
            p.destroyForcibly();
            p.waitFor();
        }
    }

    /** Runs a command and expects exit code 0. */
    static String ok(Path workDir, Duration timeout, String... command) throws IOException, InterruptedException {
        Result r = run(workDir, timeout, List.of(command));
        if (r.exit() != 0) {
            fail(String.join(" ", command) + " exited with " + r.exit() + ":\n" + r.output());
        }
        return r.output();
    }
}
