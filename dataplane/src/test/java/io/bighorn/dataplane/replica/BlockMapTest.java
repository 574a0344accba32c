package io.bighorn.dataplane.replica;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.IOException;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import org.junit.jupiter.api.Test;

class BlockMapTest {

    @Test
    void randomUpdatesMatchAPlainArray() throws IOException {
        Random random = new Random(42);
        int blocks = 3 * BlockMap.CHUNK + 77;
        BlockMap map = new BlockMap(blocks);
        int[] model = new int[blocks];
        for (int step = 0; step < 5000; step++) {
            int from = random.nextInt(blocks);
            int to = Math.min(blocks, from + 1 + random.nextInt(step % 10 == 0 ? 2000 : 40));
            switch (random.nextInt(5)) {
                case 0, 1 -> {
                    int v = random.nextInt(300) | (random.nextBoolean() ? Replica.HEAD : 0);
                    map.set(from, to, v);
                    Arrays.fill(model, from, to, v);
                }
                case 2 -> {
                    map.update(from, to, v -> v | Replica.HEAD);
                    for (int i = from; i < to; i++) {
                        model[i] |= Replica.HEAD;
                    }
                }
                case 3 -> {
                    int target = random.nextInt(300);
                    map.remapAll(v -> (v & Replica.HEAD) != 0 ? target : v);
                    for (int i = 0; i < blocks; i++) {
                        if ((model[i] & Replica.HEAD) != 0) {
                            model[i] = target;
                        }
                    }
                }
                default -> map.compact();
            }
            if (step % 97 == 0) {
                assertSame(map, model);
            }
        }
        assertSame(map, model);
    }

    @Test
    void runsAreMaximalAndCoverTheRange() throws IOException {
        BlockMap map = new BlockMap(2000);
        map.set(10, 600, 3);
        map.set(600, 1500, 3);
        map.set(1500, 1501, 4);
        List<long[]> runs = new ArrayList<>();
        map.forEachRun(5, 1600, (from, to, v) -> runs.add(new long[] {from, to, v}));
        assertThat(runs)
                .containsExactly(
                        new long[] {5, 10, 0}, new long[] {10, 1500, 3}, new long[] {1500, 1501, 4}, new long[] {
                            1501, 1600, 0
                        });
    }

    @Test
    void growKeepsValuesAndAddsZeros() {
        BlockMap map = new BlockMap(100);
        map.set(90, 100, 7);
        map.grow(5000);
        assertThat(map.get(95)).isEqualTo(7);
        assertThat(map.get(100)).isZero();
        assertThat(map.get(4999)).isZero();
        assertThat(map.blocks()).isEqualTo(5000);
    }

    @Test
    void uniformChunksCostAlmostNothing() {
        long blocksPerGiB = (1L << 30) / Replica.BLOCK;
        BlockMap map = new BlockMap(blocksPerGiB);
        map.set(0, blocksPerGiB, 1);
        assertThat(map.ramBytes()).isLessThan(4 * 1024);
    }

    @Test
    void compactionStoresFewExtentsAsRunsAndChangesNoValue() throws IOException {
        BlockMap map = new BlockMap(BlockMap.CHUNK);
        int[] model = new int[BlockMap.CHUNK];
        for (int[] extent : new int[][] {{0, 100, 1}, {100, 116, 2}, {300, 364, 3}, {364, 365, 1 | Replica.HEAD}}) {
            for (int b = extent[0]; b < extent[1]; b++) {
                map.set(b, b + 1, extent[2]); // one block at a time, as writes do
                model[b] = extent[2];
            }
        }
        long packed = map.ramBytes();
        map.compact();
        assertThat(map.ramBytes()).isLessThan(packed);
        assertSame(map, model);
        map.set(200, 201, 9); // a change re-encodes the chunk packed
        model[200] = 9;
        assertSame(map, model);
    }

    @Test
    void aChunkFilledBlockByBlockBecomesUniformAgain() {
        BlockMap map = new BlockMap(BlockMap.CHUNK);
        long empty = map.ramBytes();
        for (int b = 0; b < BlockMap.CHUNK; b++) {
            map.update(b, b + 1, v -> v | Replica.HEAD);
        }
        assertThat(map.ramBytes()).isEqualTo(empty);
        assertThat(map.get(7)).isEqualTo(Replica.HEAD);
    }

    @Test
    void concurrentUpdatesOfOneChunkAreNotLost() throws Exception {
        BlockMap map = new BlockMap(BlockMap.CHUNK);
        int threads = 8;
        try (ExecutorService pool = Executors.newFixedThreadPool(threads)) {
            List<Future<?>> futures = new ArrayList<>();
            for (int t = 0; t < threads; t++) {
                int id = t;
                futures.add(pool.submit(() -> {
                    for (int i = id; i < BlockMap.CHUNK; i += threads) {
                        map.set(i, i + 1, id + 1);
                    }
                }));
            }
            for (Future<?> f : futures) {
                f.get();
            }
        }
        for (int i = 0; i < BlockMap.CHUNK; i++) {
            assertThat(map.get(i)).isEqualTo(i % threads + 1);
        }
    }

    private static void assertSame(BlockMap map, int[] model) throws IOException {
        for (int i = 0; i < model.length; i++) {
            if (map.get(i) != model[i]) {
                throw new AssertionError("block " + i + ": " + map.get(i) + " != " + model[i]);
            }
        }
        long[] covered = {0};
        map.forEachRun(0, model.length, (from, to, v) -> {
            assertThat(from).isEqualTo(covered[0]);
            for (long i = from; i < to; i++) {
                assertThat(model[(int) i]).isEqualTo(v);
            }
            covered[0] = to;
        });
        assertThat(covered[0]).isEqualTo(model.length);
    }
}
