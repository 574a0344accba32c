package io.bighorn.dataplane.replica;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;

/**
 * The child JVM of {@link ReplicaCrashIT}: builds a replica with a known history, then runs one
 * operation, printing progress lines. Run with {@code -Dbighorn.crashAt=POINT} it stops at that point
 * and waits to be killed.
 */
public final class CrashChild {
    static final long SIZE = 8L << 20;
    static final int BLOCK = 4096;

    private CrashChild() {}

    public static void main(String[] args) throws IOException {
        Path dir = Path.of(args[0]);
        String op = args[1];
        Replica r = Files.exists(dir.resolve("volume.json")) ? Replica.open(dir) : setUp(dir);
        System.out.println("READY");
        System.out.flush();
        switch (op) {
            case "setup" -> {}
            case "snapshot" -> r.snapshot("c", true, Map.of());
            case "purge" -> r.purge();
            case "revert" -> r.revert("b");
            case "expand" -> r.expand(2 * SIZE);
            case "delete" -> r.deleteSnapshot("b");
            case "writes" -> writes(r);
            default -> throw new IllegalArgumentException(op);
        }
        System.out.println("DONE");
        System.out.flush();
        r.close();
    }

    /** History: pattern 1 over the first half, snapshot a, pattern 2 over a quarter, snapshot b, a removed. */
    static Replica setUp(Path dir) throws IOException {
        Replica r = Replica.create(dir, SIZE);
        r.write(1, 0, ByteBuffer.wrap(pattern(1, (int) SIZE / 2)));
        r.snapshot("a", true, Map.of());
        r.write(1, SIZE / 4, ByteBuffer.wrap(pattern(2, (int) SIZE / 4)));
        r.snapshot("b", true, Map.of());
        r.write(1, SIZE / 8, ByteBuffer.wrap(pattern(3, BLOCK * 16)));
        r.deleteSnapshot("a");
        r.flush();
        return r;
    }

    /** Block i of the head gets write i; a flush after every 8 writes is announced as "FLUSHED i". */
    private static void writes(Replica r) throws IOException {
        for (int i = 0; i < SIZE / BLOCK; i++) {
            r.write(1, (long) i * BLOCK, ByteBuffer.wrap(pattern(100 + i, BLOCK)));
            if (i % 8 == 7) {
                r.flush();
                System.out.println("FLUSHED " + i);
                System.out.flush();
            }
        }
    }

    static byte[] pattern(int seed, int length) {
        byte[] b = new byte[length];
        for (int i = 0; i < length; i++) {
            b[i] = (byte) (seed * 31 + i / 512);
        }
        return b;
    }
}
