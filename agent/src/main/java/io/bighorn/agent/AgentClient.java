package io.bighorn.agent;

import io.bighorn.agent.v1.CreateReplicaRequest;
import io.bighorn.agent.v1.GetNodeRequest;
import io.bighorn.agent.v1.Instance;
import io.bighorn.agent.v1.InstanceRequest;
import io.bighorn.agent.v1.NodeAgentGrpc;
import io.bighorn.agent.v1.NodeInfo;
import io.bighorn.agent.v1.StartEngineRequest;
import io.bighorn.dataplane.wire.ClusterSecret;
import io.grpc.ManagedChannel;
import io.grpc.StatusRuntimeException;
import io.grpc.netty.shaded.io.grpc.netty.NettyChannelBuilder;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.function.Supplier;

/** The manager's client of one agent: authenticated, with a deadline on every call. */
public final class AgentClient implements AutoCloseable {
    private final String target;
    private final ManagedChannel channel;
    private final NodeAgentGrpc.NodeAgentBlockingStub stub;

    /** Connects to the agent at {@code target} ({@code HOST:PORT}). */
    public AgentClient(String target, ClusterSecret secret) {
        this.target = target;
        this.channel = NettyChannelBuilder.forTarget(target).usePlaintext().build();
        this.stub = NodeAgentGrpc.newBlockingStub(channel).withCallCredentials(AgentAuth.callCredentials(secret));
    }

    private <T> T call(Supplier<T> call) {
        try {
            return call.get();
        } catch (StatusRuntimeException e) {
            String message = e.getStatus().getDescription();
            throw new AgentException(
                    e.getStatus().getCode().name(),
                    "agent at " + target + ": "
                            + (message != null
                                    ? message
                                    : e.getStatus().getCode().name()),
                    e);
        }
    }

    private NodeAgentGrpc.NodeAgentBlockingStub stub(long seconds) {
        return stub.withDeadlineAfter(seconds, TimeUnit.SECONDS);
    }

    public NodeInfo getNode() {
        return call(() -> stub(10).getNode(GetNodeRequest.getDefaultInstance()));
    }

    public Instance createReplica(String name, String volume, long size, String disk) {
        return createReplica(name, volume, size, disk, "");
    }

    /** Creates a replica; one restored from {@code fromBackup} (a backup URL) may take a while. */
    public Instance createReplica(String name, String volume, long size, String disk, String fromBackup) {
        return call(() -> stub(fromBackup.isEmpty() ? 30 : 3600)
                .createReplica(CreateReplicaRequest.newBuilder()
                        .setName(name)
                        .setVolume(volume)
                        .setSize(size)
                        .setDisk(disk)
                        .setFromBackup(fromBackup)
                        .build()));
    }

    public Instance stopReplica(String name) {
        return call(() -> stub(30).stopReplica(request(name)));
    }

    public void deleteReplica(String name) {
        call(() -> stub(60).deleteReplica(request(name)));
    }

    public Instance startEngine(String name, String volume, long size, List<String> replicas, int timeoutSeconds) {
        return call(() -> stub(60).startEngine(StartEngineRequest.newBuilder()
                .setName(name)
                .setVolume(volume)
                .setSize(size)
                .addAllReplicaAddresses(replicas)
                .setReplicaTimeoutSeconds(timeoutSeconds)
                .build()));
    }

    public Instance stopEngine(String name) {
        return call(() -> stub(60).stopEngine(request(name)));
    }

    public io.bighorn.agent.v1.BackupJob startBackup(
            String name,
            String volume,
            String snapshot,
            String target,
            String compression,
            java.util.Map<String, String> labels) {
        return call(() -> stub(30).startBackup(io.bighorn.agent.v1.StartBackupRequest.newBuilder()
                .setName(name)
                .setVolume(volume)
                .setSnapshot(snapshot)
                .setTarget(target)
                .setCompression(compression)
                .putAllLabels(labels)
                .build()));
    }

    /** A backup job's state; empty when the agent does not know the job. */
    public java.util.Optional<io.bighorn.agent.v1.BackupJob> getBackup(String name) {
        try {
            return java.util.Optional.of(stub(10).getBackup(request(name)));
        } catch (StatusRuntimeException e) {
            if (e.getStatus().getCode() == io.grpc.Status.Code.NOT_FOUND) {
                return java.util.Optional.empty();
            }
            throw new AgentException(
                    e.getStatus().getCode().name(),
                    "agent at " + target + ": " + e.getStatus().getDescription(),
                    e);
        }
    }

    /** What a backup target holds: its backup volumes, or (with a volume) that volume's backups. */
    public io.bighorn.agent.v1.BackupListing listBackups(String target, String volume) {
        return call(() -> stub(60).listBackups(io.bighorn.agent.v1.ListBackupsRequest.newBuilder()
                .setTarget(target)
                .setVolume(volume)
                .build()));
    }

    /** Deletes a backup (or, with an empty backup name, a whole backup volume) from a target. */
    public io.bighorn.agent.v1.DeleteBackupResponse deleteBackup(String target, String volume, String backup) {
        return call(() -> stub(600)
                .deleteBackup(io.bighorn.agent.v1.DeleteBackupRequest.newBuilder()
                        .setTarget(target)
                        .setVolume(volume)
                        .setBackup(backup)
                        .build()));
    }

    private static InstanceRequest request(String name) {
        return InstanceRequest.newBuilder().setName(name).build();
    }

    @Override
    public void close() throws InterruptedException {
        channel.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
    }
}
