package io.bighorn.dataplane.replica;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.bighorn.dataplane.blockdev.OutOfRangeException;
import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.util.Arrays;
import java.util.BitSet;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** The rebuild target's side of a replica: digests, layer reads and writes, and their refusals. */
class LayerSyncTest extends SegmentTest {
    private static final long SIZE = 1L << 20;

    @Test
    void blocksSurviveTheirEncodingAndADamagedByteIsRefused() throws IOException {
        BitSet wanted = new BitSet();
        wanted.set(0, 4);
        BitSet allocated = new BitSet();
        allocated.set(1);
        allocated.set(3);
        byte[] data = new byte[2 * 4096];
        Arrays.fill(data, (byte) 9);
        LayerBlocks blocks = LayerBlocks.of("snap", 8192, 4, wanted, allocated, data);
        byte[] bytes = blocks.encode();
        LayerBlocks back = LayerBlocks.decode(bytes);
        assertThat(back.layer()).isEqualTo("snap");
        assertThat(back.offset()).isEqualTo(8192);
        assertThat(back.wanted()).isEqualTo(wanted);
        assertThat(back.allocated()).isEqualTo(allocated);
        assertThat(back.data().toArray(java.lang.foreign.ValueLayout.JAVA_BYTE)).isEqualTo(data);

        bytes[bytes.length / 2] ^= 1;
        assertThatThrownBy(() -> LayerBlocks.decode(bytes)).hasMessageContaining("checksum mismatch");
        assertThatThrownBy(() -> LayerBlocks.decode(new byte[3])).isInstanceOf(IOException.class);
        assertThatThrownBy(() -> LayerBlocks.of("snap", 100, 4, wanted, allocated, data))
                .isInstanceOf(IllegalArgumentException.class);
        assertThatThrownBy(() -> LayerBlocks.of("snap", 0, 4, wanted, allocated, new byte[4096]))
                .hasMessageContaining("allocated blocks");
    }

    @Test
    void aLayerReadIntoANativeBufferIsTheSameEncodingAndWritesTheSameBlocks() throws IOException {
        io.bighorn.common.BufferPool pool = new io.bighorn.common.BufferPool(1 << 20);
        try (Replica source = Replica.create(tmp.resolve("a"), SIZE);
                Replica target = Replica.create(tmp.resolve("b"), SIZE)) {
            source.write(1, 0, filled(8192, 3));
            source.write(1, 5 * 4096, filled(4096, 4));
            source.snapshot("s", true, Map.of());
            BitSet wanted = new BitSet();
            wanted.set(0, 8);
            wanted.clear(1);
            byte[] onHeap = source.readLayer("s", 0, 8, wanted).encode();
            try (io.bighorn.common.BufferPool.Lease lease = source.readLayerEncoded("s", 0, 8, wanted, pool)) {
                assertThat(lease.segment().toArray(java.lang.foreign.ValueLayout.JAVA_BYTE))
                        .isEqualTo(onHeap);
                LayerBlocks in = LayerBlocks.decode(lease.segment());
                assertThat(in.data().isNative()).isTrue();
                assertThat(in.allocated().stream().toArray()).containsExactly(0, 5);
                target.prepareRebuild(2, source.snapshots(), "s");
                target.writeLayer(2, in);
                byte[] want = source.layerDigests("s", 0, 8);
                byte[] got = target.layerDigests("s", 0, 8);
                assertThat(Arrays.copyOfRange(got, 0, 16)).isEqualTo(Arrays.copyOfRange(want, 0, 16));
                assertThat(Arrays.copyOfRange(got, 16, 32)).isEqualTo(new byte[16]); // not wanted: not copied
                assertThat(Arrays.copyOfRange(got, 32, 128)).isEqualTo(Arrays.copyOfRange(want, 32, 128));

                lease.segment()
                        .set(
                                java.lang.foreign.ValueLayout.JAVA_BYTE,
                                lease.segment().byteSize() / 2,
                                (byte) 1);
                assertThatThrownBy(() -> LayerBlocks.decode(lease.segment())).hasMessageContaining("checksum mismatch");
            }
        }
    }

    @Test
    void aLayerReadStraightIntoMemoryPlacesTheWantedBlocksAndLeavesTheRest() throws IOException {
        try (Replica r = Replica.create(tmp.resolve("r"), SIZE)) {
            r.write(1, 0, filled(8192, 3));
            r.write(1, 5 * 4096, filled(4096, 4));
            r.snapshot("s", true, Map.of());
            r.write(1, 2 * 4096, filled(4096, 9)); // in the head, not the snapshot
            BitSet wanted = new BitSet();
            wanted.set(0, 8);
            wanted.clear(1);
            for (MemorySegment dst :
                    new MemorySegment[] {MemorySegment.ofArray(new byte[8 * 4096]), arena.allocate(8 * 4096L)}) {
                dst.fill((byte) 7);
                BitSet got = r.readLayerInto("s", 0, 8, wanted, dst);
                assertThat(got.stream().toArray()).containsExactly(0, 5);
                assertThat(dst.asSlice(0, 4096).toArray(java.lang.foreign.ValueLayout.JAVA_BYTE))
                        .containsOnly((byte) 3);
                // block 1 is not wanted, blocks 2-4 and 6-7 are holes in the layer: all left as they were
                for (int b : new int[] {1, 2, 3, 4, 6, 7}) {
                    assertThat(dst.asSlice(b * 4096L, 4096).toArray(java.lang.foreign.ValueLayout.JAVA_BYTE))
                            .containsOnly((byte) 7);
                }
                assertThat(dst.asSlice(5 * 4096L, 4096).toArray(java.lang.foreign.ValueLayout.JAVA_BYTE))
                        .containsOnly((byte) 4);
                // the same answer as readLayer's
                assertThat(got).isEqualTo(r.readLayer("s", 0, 8, wanted).allocated());
            }
        }
    }

    @Test
    void digestsTellHolesDataAndDifferences() throws IOException {
        try (Replica r = Replica.create(tmp.resolve("r"), SIZE)) {
            r.write(1, 4096, filled(4096, 1));
            r.write(1, 3 * 4096, filled(4096, 1));
            r.snapshot("s", true, Map.of());
            byte[] d = r.layerDigests("s", 0, 4);
            byte[] zero = new byte[16];
            assertThat(Arrays.copyOfRange(d, 0, 16)).isEqualTo(zero);
            assertThat(Arrays.copyOfRange(d, 16, 32)).isNotEqualTo(zero).isEqualTo(Arrays.copyOfRange(d, 48, 64));
            assertThatThrownBy(() -> r.layerDigests("nope", 0, 4)).isInstanceOf(SnapshotException.class);
            assertThatThrownBy(() -> r.layerDigests("s", SIZE, 4)).isInstanceOf(OutOfRangeException.class);
            assertThatThrownBy(() -> r.layerDigests("s", 0, 0)).isInstanceOf(IllegalArgumentException.class);
        }
    }

    @Test
    void aLayerIsCopiedExactlyAndOnlyIntoARebuildingReplica() throws IOException {
        try (Replica source = Replica.create(tmp.resolve("a"), SIZE);
                Replica target = Replica.create(tmp.resolve("b"), SIZE)) {
            source.write(1, 0, filled(8192, 3));
            source.write(1, 5 * 4096, filled(4096, 4));
            source.snapshot("s", true, Map.of());
            target.write(1, 2 * 4096, filled(4096, 7)); // a block the source has a hole at

            BitSet all = new BitSet();
            all.set(0, 8);
            LayerBlocks in = source.readLayer("s", 0, 8, all);
            assertThatThrownBy(() -> target.writeLayer(1, in)).hasMessageContaining("not being rebuilt");

            List<SnapshotInfo> tree = source.snapshots();
            target.prepareRebuild(2, tree, "s");
            assertThat(target.rebuilding()).isTrue();
            assertThat(target.revision()).isZero();
            assertThat(target.info().chain()).containsExactly("s", Replica.HEAD_NAME);
            target.writeLayer(2, in);
            assertThat(target.layerDigests("s", 0, 8)).isEqualTo(source.layerDigests("s", 0, 8));
            assertThatThrownBy(() -> target.writeLayer(1, in)).isInstanceOf(StaleEpochException.class);
            assertThatThrownBy(target::purge).hasMessageContaining("being rebuilt");

            target.finishRebuild(2, source.revision());
            assertThat(target.rebuilding()).isFalse();
            assertThat(target.revision()).isEqualTo(source.revision());
            MemorySegment a = arena.allocate(SIZE, 4096);
            MemorySegment b = arena.allocate(SIZE, 4096);
            source.read(0, a);
            target.read(0, b);
            assertThat(b.mismatch(a)).isEqualTo(-1);
        }
        try (Replica reopened = Replica.open(tmp.resolve("b"))) {
            assertThat(reopened.rebuilding()).isFalse();
            assertThat(reopened.info().chain()).containsExactly("s", Replica.HEAD_NAME);
        }
    }

    @Test
    void theRebuildingMarkSurvivesAReopen() throws IOException {
        try (Replica source = Replica.create(tmp.resolve("a"), SIZE);
                Replica target = Replica.create(tmp.resolve("b"), SIZE)) {
            source.snapshot("s", true, Map.of());
            target.prepareRebuild(1, source.snapshots(), "s");
            target.write(1, 512, filled(512, 5));
            assertThat(target.takePartialBlocks()).containsExactly(0L);
            assertThat(target.takePartialBlocks()).isEmpty();
        }
        try (Replica reopened = Replica.open(tmp.resolve("b"))) {
            assertThat(reopened.rebuilding()).isTrue();
            assertThat(reopened.info().rebuilding()).isTrue();
        }
    }
}
