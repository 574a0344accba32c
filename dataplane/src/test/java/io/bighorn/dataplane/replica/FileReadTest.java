package io.bighorn.dataplane.replica;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.bighorn.dataplane.blockdev.OutOfRangeException;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.Channels;
import java.nio.channels.ServerSocketChannel;
import java.nio.channels.SocketChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;

/** Reads planned for a zero-copy send: the bytes they send, and the layers they keep open. */
class FileReadTest extends SegmentTest {
    private static final long SIZE = 4L << 20;

    private static byte[] sent(FileRead read) throws IOException {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        read.transferTo(Channels.newChannel(out));
        return out.toByteArray();
    }

    private byte[] expected(Replica r, long offset, int length) throws IOException {
        MemorySegment dst = arena.allocate(length, 4096);
        r.read(offset, dst);
        return dst.toArray(ValueLayout.JAVA_BYTE);
    }

    /** Descriptors of this process open on deleted files under the replica's directory. */
    private long openDeleted(Path dir) throws IOException {
        try (Stream<Path> fds = Files.list(Path.of("/proc/self/fd"))) {
            return fds.filter(fd -> {
                        try {
                            String target = Files.readSymbolicLink(fd).toString();
                            return target.startsWith(dir.toString()) && target.endsWith(" (deleted)");
                        } catch (IOException e) {
                            return false; // closed while listing
                        }
                    })
                    .count();
        }
    }

    @Test
    void aReadAcrossLayersAndHolesSendsWhatAReadReturns() throws IOException {
        try (Replica r = Replica.create(tmp.resolve("r"), SIZE)) {
            r.write(1, 0, filled(64 << 10, 1));
            r.snapshot("s1", true, Map.of());
            r.write(1, 16 << 10, filled(8 << 10, 2)); // the head over the snapshot
            r.write(1, (1 << 20) + 512, filled(1024, 3)); // a partial block beyond a hole
            for (long[] range : new long[][] {{0, 2 << 20}, {4096, 12288}, {512, 1 << 20}, {SIZE - 8192, 8192}}) {
                try (FileRead read = r.readForTransfer(range[0], range[1])) {
                    assertThat(read.length()).isEqualTo(range[1]);
                    assertThat(sent(read))
                            .as("%d bytes at %d", range[1], range[0])
                            .isEqualTo(expected(r, range[0], (int) range[1]));
                }
            }
        }
    }

    @Test
    void aSocketGetsTheSameBytes() throws IOException {
        try (Replica r = Replica.create(tmp.resolve("r"), SIZE);
                ServerSocketChannel server =
                        ServerSocketChannel.open().bind(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0));
                SocketChannel client = SocketChannel.open(server.getLocalAddress());
                SocketChannel peer = server.accept()) {
            r.write(1, 4096, filled(1 << 20, 7));
            int length = 3 << 20;
            try (FileRead read = r.readForTransfer(0, length)) {
                Thread sender = Thread.ofPlatform().start(() -> {
                    try {
                        read.transferTo(peer);
                    } catch (IOException e) {
                        throw new IllegalStateException(e);
                    }
                });
                ByteBuffer got = ByteBuffer.allocate(length);
                while (got.hasRemaining() && client.read(got) >= 0) {
                    // until all of it is here
                }
                sender.join();
                assertThat(got.array()).isEqualTo(expected(r, 0, length));
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new IOException(e);
            }
        }
    }

    @Test
    void aLayerRetiredAfterThePlanStaysReadableUntilTheReadIsClosed() throws IOException {
        Path dir = tmp.resolve("r");
        try (Replica r = Replica.create(dir, SIZE)) {
            r.write(1, 0, filled(8192, 5));
            r.snapshot("s1", true, Map.of());
            r.write(1, 0, filled(8192, 6));
            FileRead read = r.readForTransfer(0, 8192);
            // the revert closes the head the read was planned on and deletes its file
            r.revert("s1");
            assertThat(expected(r, 0, 8192)).containsOnly(5);
            assertThat(sent(read)).containsOnly(6);
            assertThat(openDeleted(dir)).isPositive(); // the descriptor, and its channel
            read.close();
            read.close(); // twice is harmless
            assertThat(openDeleted(dir)).isZero();
            assertThatThrownBy(() -> read.transferTo(Channels.newChannel(new ByteArrayOutputStream())))
                    .isInstanceOf(IOException.class);
        }
    }

    @Test
    void aLayerShorterThanTheRangeReadsAsZerosBeyondItsEnd() throws IOException {
        Path dir = tmp.resolve("r");
        try (Replica r = Replica.create(dir, SIZE)) {
            r.write(1, SIZE - 8192, filled(8192, 4));
            try (FileRead read = r.readForTransfer(SIZE - 8192, 8192)) {
                // the head file loses its last block (a crash mid-expand could leave it so): pread reads zeros
                try (var files = Files.list(dir)) {
                    for (Path f :
                            files.filter(p -> p.toString().endsWith(".img")).toList()) {
                        try (var ch = java.nio.channels.FileChannel.open(f, java.nio.file.StandardOpenOption.WRITE)) {
                            ch.truncate(SIZE - 4096);
                        }
                    }
                }
                byte[] sent = sent(read);
                assertThat(java.util.Arrays.copyOfRange(sent, 0, 4096)).containsOnly(4);
                assertThat(java.util.Arrays.copyOfRange(sent, 4096, 8192)).containsOnly(0);
                assertThat(sent).isEqualTo(expected(r, SIZE - 8192, 8192));
            }
        }
    }

    @Test
    void aNonBlockingChannelIsRefused() throws IOException {
        java.nio.channels.Pipe pipe = java.nio.channels.Pipe.open();
        try (Replica r = Replica.create(tmp.resolve("r"), SIZE);
                FileRead read = r.readForTransfer(0, 8192);
                java.nio.channels.Pipe.SinkChannel sink = pipe.sink();
                java.nio.channels.Pipe.SourceChannel source = pipe.source()) {
            sink.configureBlocking(false);
            assertThatThrownBy(() -> read.transferTo(sink))
                    .isInstanceOf(IllegalArgumentException.class)
                    .hasMessageContaining("blocking mode");
        }
    }

    @Test
    void outOfRangeAndClosedReplicasAreRefused() throws IOException {
        Replica r = Replica.create(tmp.resolve("r"), SIZE);
        assertThatThrownBy(() -> r.readForTransfer(SIZE - 4096, 8192)).isInstanceOf(OutOfRangeException.class);
        assertThatThrownBy(() -> r.readForTransfer(100, 4096)).isInstanceOf(IllegalArgumentException.class);
        r.close();
        assertThatThrownBy(() -> r.readForTransfer(0, 4096)).isInstanceOf(IOException.class);
    }
}
