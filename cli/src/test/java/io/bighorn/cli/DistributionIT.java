package io.bighorn.cli;

import static org.assertj.core.api.Assertions.assertThat;

import io.bighorn.dataplane.replica.Replica;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Runs the built distribution jar as a real process, the way the launcher does. */
class DistributionIT {
    @TempDir
    Path tmp;

    @Test
    void inspectRunsFromTheDistributionJar() throws Exception {
        Path jar = Path.of("target", "bighorn.jar").toAbsolutePath();
        assertThat(jar).exists();
        Path dir = tmp.resolve("r");
        try (Replica r = Replica.create(dir, 4L << 20)) {
            r.write(1, 0, ByteBuffer.allocate(4096));
            r.snapshot("s1", true, Map.of());
        }
        String java = ProcessHandle.current().info().command().orElse("java");
        Process p = new ProcessBuilder(List.of(java, "-jar", jar.toString(), "replica", "inspect", dir.toString()))
                .redirectError(tmp.resolve("stderr.txt").toFile())
                .start();
        try {
            String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
            assertThat(p.waitFor(60, TimeUnit.SECONDS)).isTrue();
            assertThat(p.exitValue())
                    .as(Files.readString(tmp.resolve("stderr.txt")))
                    .isZero();
            assertThat(out).contains("chain     s1 -> volume-head");
            // the manifest enables native access: no warning about restricted methods
            assertThat(Files.readString(tmp.resolve("stderr.txt"))).doesNotContain("restricted method");
        } finally {
            p.destroyForcibly();
        }
    }
}
