package io.bighorn.nbd;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;

import java.io.IOException;
import java.io.RandomAccessFile;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/** The NBD client against other NBD servers (qemu-nbd, nbdkit), read back with nbdcopy too. */
@Timeout(value = 180, threadMode = Timeout.ThreadMode.SEPARATE_THREAD)
class NbdClientIT {
    private static final Duration TIMEOUT = Duration.ofSeconds(60);

    private Path dir;
    private final List<Process> processes = new ArrayList<>();

    @BeforeEach
    void setUp() throws IOException {
        dir = Files.createTempDirectory("nbd-client-it");
    }

    @AfterEach
    void tearDown() throws Exception {
        for (Process p : processes) {
            p.descendants().forEach(ProcessHandle::destroyForcibly);
            p.destroyForcibly();
            p.waitFor();
        }
        TestVolumes.delete(dir);
    }

    private static int freePort() throws IOException {
        try (ServerSocket s = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
            return s.getLocalPort();
        }
    }

    /** Starts nbdkit in the foreground on a free loopback port with {@code args}; its URL. */
    private String nbdkit(String... args) throws IOException {
        String nbdkit = Tools.require("nbdkit");
        int port = freePort();
        List<String> command = new ArrayList<>(
                List.of(nbdkit, "-f", "--exit-with-parent", "-i", "127.0.0.1", "-p", Integer.toString(port)));
        command.addAll(List.of(args));
        serve(port, command.toArray(String[]::new));
        return "nbd://127.0.0.1:" + port + "/";
    }

    /** Starts a server program and waits until it accepts connections on {@code port}. */
    private void serve(int port, String... command) throws IOException {
        Path log = Files.createTempFile(dir, "server", ".log");
        Process p = new ProcessBuilder(command)
                .redirectErrorStream(true)
                .redirectOutput(log.toFile())
                .redirectInput(ProcessBuilder.Redirect.from(Path.of("/dev/null").toFile()))
                .start();
        processes.add(p);
        await().atMost(TIMEOUT).until(() -> {
            if (!p.isAlive()) {
                throw new AssertionError(String.join(" ", command) + " exited: " + Files.readString(log));
            }
            try (Socket probe = new Socket(InetAddress.getLoopbackAddress(), port)) {
                return true;
            } catch (IOException e) {
                return false;
            }
        });
    }

    private static byte[] random(int length, long seed) {
        byte[] b = new byte[length];
        new Random(seed).nextBytes(b);
        return b;
    }

    @Test
    void qemuNbdServesAnImageTheClientWritesFromManyThreads() throws Exception {
        String qemuNbd = Tools.require("qemu-nbd");
        long size = 40L << 20;
        Path image = dir.resolve("disk.raw");
        try (RandomAccessFile f = new RandomAccessFile(image.toFile(), "rw")) {
            f.setLength(size);
        }
        int port = freePort();
        // persistent (-t) and shared: the readiness probe is a client too
        serve(
                port,
                qemuNbd,
                "-f",
                "raw",
                "-x",
                "vol",
                "-b",
                "127.0.0.1",
                "-p",
                Integer.toString(port),
                "-t",
                "-e",
                "8",
                image.toString());
        String url = "nbd://127.0.0.1:" + port + "/vol";
        byte[] expected = random((int) size, 1);
        try (NbdClient c = NbdClient.connect(url);
                ExecutorService pool = Executors.newFixedThreadPool(8)) {
            assertThat(c.size()).isEqualTo(size);
            assertThat(c.readOnly()).isFalse();
            assertThat(c.canFlush()).isTrue();
            assertThat(c.canWriteZeroes()).isTrue();
            int part = (int) (size / 8);
            List<Future<?>> fs = new ArrayList<>();
            for (int t = 0; t < 8; t++) {
                int start = t * part;
                fs.add(pool.submit(() -> {
                    for (int at = start; at < start + part; at += 256 << 10) {
                        c.write(at, expected, at, 256 << 10);
                    }
                    return null;
                }));
            }
            for (Future<?> f : fs) {
                f.get();
            }
            c.writeZeroes(3 << 20, 5 << 20);
            Arrays.fill(expected, 3 << 20, 8 << 20, (byte) 0);
            c.flush();
            byte[] back = new byte[(int) size];
            c.read(0, back, 0, back.length); // 40 MiB: split in two
            assertThat(Arrays.mismatch(back, expected)).isEqualTo(-1);
        }
        assertThat(Arrays.mismatch(Files.readAllBytes(image), expected)).isEqualTo(-1);
        assertThatThrownBy(() -> NbdClient.connect("nbd://127.0.0.1:" + port + "/nope"))
                .isInstanceOf(IOException.class)
                .hasMessageContaining("export 'nope'");
    }

    @Test
    void nbdkitMemoryTakesWritesThatNbdcopyReadsBack() throws Exception {
        String nbdcopy = Tools.require("nbdcopy");
        String url = nbdkit("memory", "36M");
        byte[] expected = random(36 << 20, 2);
        try (NbdClient c = NbdClient.connect(url)) {
            assertThat(c.size()).isEqualTo(36L << 20);
            c.write(0, expected, 0, expected.length);
            c.writeZeroes(1 << 20, 4096);
            Arrays.fill(expected, 1 << 20, (1 << 20) + 4096, (byte) 0);
            c.flush();
            byte[] back = new byte[4 << 20];
            c.read(0, back, 0, back.length);
            assertThat(back).isEqualTo(Arrays.copyOf(expected, back.length));
        }
        Path out = dir.resolve("copy.raw");
        Tools.ok(dir, TIMEOUT, nbdcopy, url, out.toString());
        assertThat(Arrays.mismatch(Files.readAllBytes(out), expected)).isEqualTo(-1);
    }

    @Test
    void aReadOnlyExportSaysSoAndWritesFailWithEperm() throws Exception {
        String url = nbdkit("-r", "memory", "1M");
        try (NbdClient c = NbdClient.connect(url)) {
            assertThat(c.readOnly()).isTrue();
            assertThatThrownBy(() -> c.write(0, new byte[4096], 0, 4096))
                    .isInstanceOf(IOException.class)
                    .hasMessageContaining("write of 4096 bytes at offset 0")
                    .hasMessageContaining("EPERM (1)");
            byte[] b = new byte[4096];
            c.read(0, b, 0, b.length); // the connection goes on
            assertThat(b).containsOnly(0);
        }
    }

    @Test
    void aFullDeviceIsEnospc() throws Exception {
        String url = nbdkit("full", "1M");
        try (NbdClient c = NbdClient.connect(url)) {
            assertThatThrownBy(() -> c.write(512, new byte[512], 0, 512))
                    .isInstanceOf(IOException.class)
                    .hasMessageContaining("ENOSPC (28)");
        }
    }

    @Test
    void withoutWriteZeroesZerosAreWritten() throws Exception {
        String url = nbdkit("--filter=nozero", "memory", "16M");
        try (NbdClient c = NbdClient.connect(url)) {
            assertThat(c.canWriteZeroes()).isFalse();
            byte[] data = random(16 << 20, 3);
            c.write(0, data, 0, data.length);
            c.writeZeroes(512, 9 << 20);
            Arrays.fill(data, 512, 512 + (9 << 20), (byte) 0);
            byte[] back = new byte[data.length];
            c.read(0, back, 0, back.length);
            assertThat(Arrays.mismatch(back, data)).isEqualTo(-1);
        }
    }

    @Test
    void aServerWithoutTheFixedHandshakeGetsExportName() throws Exception {
        // no FIXED_NEWSTYLE and no NO_ZEROES: plain newstyle, NBD_OPT_EXPORT_NAME and the 124 zero bytes
        String url = nbdkit("--mask-handshake=0", "memory", "2M");
        try (NbdClient c = NbdClient.connect(url)) {
            assertThat(c.size()).isEqualTo(2L << 20);
            byte[] data = random(64 << 10, 4);
            c.write(4096, data, 0, data.length);
            byte[] back = new byte[data.length];
            c.read(4096, back, 0, back.length);
            assertThat(back).isEqualTo(data);
        }
    }
}
