package io.bighorn.nbd;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;

import io.bighorn.dataplane.replica.ReplicaDevice;
import java.io.IOException;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/** The NBD client against Bighorn's server and against nbdkit. */
class NbdClientTest {
    private static final long SIZE = 16L << 20;

    private Path dir;
    private ReplicaDevice device;
    private NbdServer server;

    @BeforeEach
    void setUp() throws Exception {
        dir = Files.createTempDirectory("nbd-client-test");
        device = TestVolumes.create(dir.resolve("vol0"), SIZE);
        server = NbdServer.start("127.0.0.1", 0, Exports.of(new Export("vol0", "test volume", device)));
    }

    @AfterEach
    void tearDown() throws Exception {
        TestVolumes.tearDown(server, device, dir);
    }

    private String url() {
        return "nbd://127.0.0.1:" + server.port() + "/vol0";
    }

    @Test
    void writesReadsZeroesAndFlushesFromManyThreads() throws Exception {
        try (NbdClient c = NbdClient.connect(url())) {
            assertThat(c.size()).isEqualTo(SIZE);
            assertThat(c.canFlush()).isTrue();
            assertThat(c.canWriteZeroes()).isTrue();
            assertThat(c.readOnly()).isFalse();
            byte[] all = new byte[(int) SIZE];
            new Random(1).nextBytes(all);
            try (ExecutorService pool = Executors.newFixedThreadPool(8)) {
                List<Future<?>> fs = new ArrayList<>();
                for (int i = 0; i < 8; i++) {
                    int part = i;
                    fs.add(pool.submit(() -> {
                        c.write((long) part * (SIZE / 8), all, (int) (part * (SIZE / 8)), (int) (SIZE / 8));
                        return null;
                    }));
                }
                for (Future<?> f : fs) {
                    f.get();
                }
            }
            c.writeZeroes(1 << 20, 1 << 20);
            java.util.Arrays.fill(all, 1 << 20, 2 << 20, (byte) 0);
            c.flush();
            byte[] back = new byte[(int) SIZE];
            c.read(0, back, 0, back.length);
            assertThat(back).isEqualTo(all);
        }
    }

    @Test
    void badInputAndAGoneServerAreClearErrorsNotHangs() throws Exception {
        assertThatThrownBy(() -> NbdClient.connect("nbd://127.0.0.1:" + server.port() + "/nope"))
                .isInstanceOf(IOException.class)
                .hasMessageContaining("refused export 'nope'");
        assertThatThrownBy(() -> NbdClient.connect("http://x/y")).isInstanceOf(IllegalArgumentException.class);
        int free;
        try (ServerSocket s = new ServerSocket(0)) {
            free = s.getLocalPort();
        }
        assertThatThrownBy(() -> NbdClient.connect("nbd://127.0.0.1:" + free + "/vol0"))
                .isInstanceOf(IOException.class)
                .hasMessageContaining("cannot open");
        NbdClient c = NbdClient.connect(url());
        assertThatThrownBy(() -> c.write(SIZE - 4096, new byte[8192], 0, 8192))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("outside");
        server.close();
        await().atMost(Duration.ofSeconds(30))
                .untilAsserted(() -> assertThatThrownBy(() -> c.write(0, new byte[4096], 0, 4096))
                        .isInstanceOf(IOException.class));
        c.close();
    }

    @Test
    void speaksToNbdkit() throws Exception {
        String nbdkit = Tools.require("nbdkit");
        int port;
        try (ServerSocket s = new ServerSocket(0)) {
            port = s.getLocalPort();
        }
        Process p = new ProcessBuilder(nbdkit, "-f", "-i", "127.0.0.1", "-p", Integer.toString(port), "memory", "8M")
                .redirectErrorStream(true)
                .redirectOutput(dir.resolve("nbdkit.log").toFile())
                .start();
        try {
            int finalPort = port;
            await().atMost(Duration.ofSeconds(30)).until(() -> {
                try (Socket probe = new Socket("127.0.0.1", finalPort)) {
                    return true;
                } catch (IOException e) {
                    return false;
                }
            });
            try (NbdClient c = NbdClient.connect("nbd://127.0.0.1:" + port + "/")) {
                assertThat(c.size()).isEqualTo(8L << 20);
                byte[] data = new byte[1 << 20];
                new Random(2).nextBytes(data);
                c.write(3 << 20, data, 0, data.length);
                c.writeZeroes(3 << 20, 4096);
                c.flush();
                byte[] back = new byte[data.length];
                c.read(3 << 20, back, 0, back.length);
                java.util.Arrays.fill(data, 0, 4096, (byte) 0);
                assertThat(back).isEqualTo(data);
            }
        } finally {
            p.destroyForcibly();
            p.waitFor();
        }
    }
}
