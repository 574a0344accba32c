package io.bighorn.control;

import io.bighorn.control.v1.AddReplicaRequest;
import io.bighorn.control.v1.CreateSnapshotRequest;
import io.bighorn.control.v1.DeleteSnapshotRequest;
import io.bighorn.control.v1.EngineControlGrpc;
import io.bighorn.control.v1.EngineInfo;
import io.bighorn.control.v1.ExpandRequest;
import io.bighorn.control.v1.GetInfoRequest;
import io.bighorn.control.v1.GetRebuildStatusRequest;
import io.bighorn.control.v1.ListSnapshotsRequest;
import io.bighorn.control.v1.PurgeSnapshotsRequest;
import io.bighorn.control.v1.RebuildStatus;
import io.bighorn.control.v1.RemoveReplicaRequest;
import io.bighorn.control.v1.RevertSnapshotRequest;
import io.bighorn.control.v1.SalvageRequest;
import io.bighorn.control.v1.Snapshot;
import io.grpc.ManagedChannel;
import io.grpc.StatusRuntimeException;
import io.grpc.netty.shaded.io.grpc.netty.NettyChannelBuilder;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.function.Supplier;

/** A client of an engine's control API; failures become {@link ControlException} with the engine's message. */
public final class ControlClient implements AutoCloseable {
    private final String target;
    private final ManagedChannel channel;
    private final EngineControlGrpc.EngineControlBlockingStub stub;

    /** Connects to {@code target}, {@code HOST:PORT}. */
    public ControlClient(String target) {
        this(target, null);
    }

    /** Connects to {@code target}, each call carrying {@code credentials} (null: none). */
    public ControlClient(String target, io.grpc.CallCredentials credentials) {
        this.target = target;
        this.channel = NettyChannelBuilder.forTarget(target).usePlaintext().build();
        EngineControlGrpc.EngineControlBlockingStub s = EngineControlGrpc.newBlockingStub(channel);
        this.stub = credentials == null ? s : s.withCallCredentials(credentials);
    }

    private <T> T call(Supplier<T> call) {
        try {
            return call.get();
        } catch (StatusRuntimeException e) {
            String message = e.getStatus().getDescription();
            throw new ControlException(
                    e.getStatus().getCode().name(),
                    message != null
                            ? message
                            : "engine at " + target + ": " + e.getStatus().getCode(),
                    e);
        }
    }

    private EngineControlGrpc.EngineControlBlockingStub stub() {
        return stub.withDeadlineAfter(5, TimeUnit.MINUTES);
    }

    public EngineInfo info() {
        return call(() -> stub().withDeadlineAfter(30, TimeUnit.SECONDS).getInfo(GetInfoRequest.getDefaultInstance()));
    }

    public Snapshot createSnapshot(String name, Map<String, String> labels) {
        return call(() -> stub().createSnapshot(CreateSnapshotRequest.newBuilder()
                .setName(name)
                .putAllLabels(labels)
                .build()));
    }

    public List<Snapshot> listSnapshots() {
        return call(() ->
                stub().listSnapshots(ListSnapshotsRequest.getDefaultInstance()).getSnapshotsList());
    }

    public void deleteSnapshot(String name) {
        call(() -> stub().deleteSnapshot(
                        DeleteSnapshotRequest.newBuilder().setName(name).build()));
    }

    public List<String> purge() {
        return call(() -> stub().purgeSnapshots(PurgeSnapshotsRequest.getDefaultInstance())
                .getPurgedList());
    }

    public void revert(String name) {
        call(() -> stub().revertSnapshot(
                        RevertSnapshotRequest.newBuilder().setName(name).build()));
    }

    public EngineInfo expand(long size) {
        return call(() -> stub().expand(ExpandRequest.newBuilder().setSize(size).build()));
    }

    public RebuildStatus addReplica(String address, long bandwidth) {
        return call(() -> stub().addReplica(AddReplicaRequest.newBuilder()
                .setAddress(address)
                .setBandwidth(bandwidth)
                .build()));
    }

    public EngineInfo removeReplica(String address) {
        return call(() -> stub().removeReplica(
                        RemoveReplicaRequest.newBuilder().setAddress(address).build()));
    }

    public EngineInfo salvage() {
        return call(() -> stub().salvage(SalvageRequest.getDefaultInstance()));
    }

    public RebuildStatus rebuildStatus() {
        return call(() -> stub().withDeadlineAfter(30, TimeUnit.SECONDS)
                .getRebuildStatus(GetRebuildStatusRequest.getDefaultInstance()));
    }

    @Override
    public void close() throws InterruptedException {
        channel.shutdown();
        if (!channel.awaitTermination(5, TimeUnit.SECONDS)) {
            channel.shutdownNow();
        }
    }
}
