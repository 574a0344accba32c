package io.bighorn.dataplane.replica;

import io.bighorn.dataplane.blockdev.BlockDevice;
import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.time.Instant;
import java.util.BitSet;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;

/** A replica that could not be reached: every call fails with the reason, so an engine starts it in ERR. */
public final class UnreachableReplica implements ReplicaEndpoint {
    private final String address;
    private final IOException cause;

    public UnreachableReplica(String address, IOException cause) {
        this.address = address;
        this.cause = cause;
    }

    private <T> CompletableFuture<T> fail() {
        return CompletableFuture.failedFuture(
                new IOException("replica " + address + " is unreachable: " + cause.getMessage(), cause));
    }

    @Override
    public String address() {
        return address;
    }

    @Override
    public CompletableFuture<Void> read(long offset, MemorySegment dst) {
        return fail();
    }

    @Override
    public CompletableFuture<Void> write(long epoch, long offset, MemorySegment src) {
        return fail();
    }

    @Override
    public CompletableFuture<Void> trim(long epoch, long offset, long length) {
        return fail();
    }

    @Override
    public CompletableFuture<Void> writeZeroes(long epoch, long offset, long length) {
        return fail();
    }

    @Override
    public CompletableFuture<Void> flush() {
        return fail();
    }

    @Override
    public CompletableFuture<List<BlockDevice.Extent>> extents(long offset, long length) {
        return fail();
    }

    @Override
    public CompletableFuture<ReplicaInfo> info() {
        return fail();
    }

    @Override
    public CompletableFuture<Void> acceptEpoch(long epoch) {
        return fail();
    }

    @Override
    public CompletableFuture<SnapshotInfo> snapshot(
            String name, boolean userCreated, Map<String, String> labels, Instant created) {
        return fail();
    }

    @Override
    public CompletableFuture<List<SnapshotInfo>> snapshots() {
        return fail();
    }

    @Override
    public CompletableFuture<Void> deleteSnapshot(String name) {
        return fail();
    }

    @Override
    public CompletableFuture<List<String>> purge() {
        return fail();
    }

    @Override
    public CompletableFuture<Void> revert(String name) {
        return fail();
    }

    @Override
    public CompletableFuture<Void> expand(long newSize) {
        return fail();
    }

    @Override
    public CompletableFuture<Void> prepareRebuild(long epoch, List<SnapshotInfo> source, String headParent) {
        return fail();
    }

    @Override
    public CompletableFuture<byte[]> layerDigests(String layer, long offset, int blocks) {
        return fail();
    }

    @Override
    public CompletableFuture<LayerBlocks> readLayer(String layer, long offset, int blocks, BitSet wanted) {
        return fail();
    }

    @Override
    public CompletableFuture<Void> writeLayer(long epoch, LayerBlocks blocks) {
        return fail();
    }

    @Override
    public CompletableFuture<long[]> takePartialBlocks() {
        return fail();
    }

    @Override
    public CompletableFuture<Void> finishRebuild(long epoch, long revision) {
        return fail();
    }

    @Override
    public CompletableFuture<Void> putIntent(byte[] map) {
        return fail();
    }

    @Override
    public CompletableFuture<byte[]> intent() {
        return fail();
    }

    @Override
    public CompletableFuture<Void> syncLayers() {
        return fail();
    }

    @Override
    public void close() {}
}
