package io.bighorn.control;

import io.bighorn.control.v1.AddReplicaRequest;
import io.bighorn.control.v1.CreateSnapshotRequest;
import io.bighorn.control.v1.DeleteSnapshotRequest;
import io.bighorn.control.v1.DeleteSnapshotResponse;
import io.bighorn.control.v1.EngineControlGrpc;
import io.bighorn.control.v1.EngineInfo;
import io.bighorn.control.v1.ExpandRequest;
import io.bighorn.control.v1.GetInfoRequest;
import io.bighorn.control.v1.GetRebuildStatusRequest;
import io.bighorn.control.v1.ListSnapshotsRequest;
import io.bighorn.control.v1.ListSnapshotsResponse;
import io.bighorn.control.v1.PurgeSnapshotsRequest;
import io.bighorn.control.v1.PurgeSnapshotsResponse;
import io.bighorn.control.v1.RebuildStatus;
import io.bighorn.control.v1.RemoveReplicaRequest;
import io.bighorn.control.v1.Replica;
import io.bighorn.control.v1.RevertSnapshotRequest;
import io.bighorn.control.v1.RevertSnapshotResponse;
import io.bighorn.control.v1.SalvageRequest;
import io.bighorn.control.v1.Snapshot;
import io.bighorn.dataplane.blockdev.NoSpaceException;
import io.bighorn.dataplane.engine.Engine;
import io.bighorn.dataplane.engine.IoCounters;
import io.bighorn.dataplane.engine.NoHealthyReplicaException;
import io.bighorn.dataplane.engine.ReplicaState;
import io.bighorn.dataplane.replica.ReplicaConnector;
import io.bighorn.dataplane.replica.SnapshotInfo;
import io.grpc.Status;
import io.grpc.stub.StreamObserver;
import java.io.IOException;

/** The engine's control API over gRPC; every error becomes a status with the engine's message. */
final class EngineControlService extends EngineControlGrpc.EngineControlImplBase {
    private final Engine engine;
    private final String frontend;
    private final ReplicaConnector connector;

    EngineControlService(Engine engine, String frontend, ReplicaConnector connector) {
        this.engine = engine;
        this.frontend = frontend;
        this.connector = connector;
    }

    @FunctionalInterface
    private interface Call<T> {
        T call() throws IOException;
    }

    private static <T> void respond(StreamObserver<T> observer, Call<T> call) {
        T value;
        try {
            value = call.call();
        } catch (IllegalArgumentException e) {
            observer.onError(status(Status.INVALID_ARGUMENT, e));
            return;
        } catch (IllegalStateException e) {
            observer.onError(status(Status.FAILED_PRECONDITION, e));
            return;
        } catch (NoHealthyReplicaException e) {
            observer.onError(status(Status.UNAVAILABLE, e));
            return;
        } catch (NoSpaceException e) {
            observer.onError(status(Status.RESOURCE_EXHAUSTED, e));
            return;
        } catch (IOException | RuntimeException e) {
            observer.onError(status(Status.INTERNAL, e));
            return;
        }
        observer.onNext(value);
        observer.onCompleted();
    }

    private static RuntimeException status(Status status, Exception e) {
        return status.withDescription(e.getMessage()).asRuntimeException();
    }

    EngineInfo info() {
        io.bighorn.dataplane.engine.EngineInfo info = engine.info();
        EngineInfo.Builder b = EngineInfo.newBuilder()
                .setVolume(info.volume())
                .setSize(info.size())
                .setEpoch(info.epoch())
                .setFrontendClients(info.frontendClients())
                .setDecision(info.decision())
                .setFrontend(frontend);
        IoCounters.Totals io = engine.ioTotals();
        b.setReadOps(io.readOps())
                .setReadBytes(io.readBytes())
                .setReadNanos(io.readNanos())
                .setWriteOps(io.writeOps())
                .setWriteBytes(io.writeBytes())
                .setWriteNanos(io.writeNanos());
        for (ReplicaState r : info.replicas()) {
            b.addReplicas(Replica.newBuilder()
                    .setAddress(r.address())
                    .setMode(r.mode().name())
                    .setReason(r.reason() == null ? "" : r.reason())
                    .setRevision(r.revision()));
        }
        return b.build();
    }

    static Snapshot toProto(SnapshotInfo s) {
        return Snapshot.newBuilder()
                .setName(s.name())
                .setParent(s.parent() == null ? "" : s.parent())
                .addAllChildren(s.children())
                .setCreated(s.created().toString())
                .setAllocatedBytes(s.allocatedBytes())
                .setRemoved(s.removed())
                .setUserCreated(s.userCreated())
                .putAllLabels(s.labels())
                .build();
    }

    @Override
    public void getInfo(GetInfoRequest request, StreamObserver<EngineInfo> observer) {
        respond(observer, this::info);
    }

    @Override
    public void createSnapshot(CreateSnapshotRequest request, StreamObserver<Snapshot> observer) {
        respond(observer, () -> toProto(engine.snapshot(request.getName(), true, request.getLabelsMap())));
    }

    @Override
    public void listSnapshots(ListSnapshotsRequest request, StreamObserver<ListSnapshotsResponse> observer) {
        respond(
                observer,
                () -> ListSnapshotsResponse.newBuilder()
                        .addAllSnapshots(engine.snapshots().stream()
                                .map(EngineControlService::toProto)
                                .toList())
                        .build());
    }

    @Override
    public void deleteSnapshot(DeleteSnapshotRequest request, StreamObserver<DeleteSnapshotResponse> observer) {
        respond(observer, () -> {
            engine.deleteSnapshot(request.getName());
            return DeleteSnapshotResponse.getDefaultInstance();
        });
    }

    @Override
    public void purgeSnapshots(PurgeSnapshotsRequest request, StreamObserver<PurgeSnapshotsResponse> observer) {
        respond(
                observer,
                () -> PurgeSnapshotsResponse.newBuilder()
                        .addAllPurged(engine.purge())
                        .build());
    }

    @Override
    public void revertSnapshot(RevertSnapshotRequest request, StreamObserver<RevertSnapshotResponse> observer) {
        respond(observer, () -> {
            engine.revert(request.getName());
            return RevertSnapshotResponse.getDefaultInstance();
        });
    }

    @Override
    public void addReplica(AddReplicaRequest request, StreamObserver<RebuildStatus> observer) {
        respond(
                observer,
                () -> toProto(engine.addReplica(connector.connect(request.getAddress()), request.getBandwidth())));
    }

    @Override
    public void removeReplica(RemoveReplicaRequest request, StreamObserver<EngineInfo> observer) {
        respond(observer, () -> {
            engine.removeReplica(request.getAddress());
            return info();
        });
    }

    @Override
    public void salvage(SalvageRequest request, StreamObserver<EngineInfo> observer) {
        respond(observer, () -> {
            engine.salvage(connector);
            return info();
        });
    }

    @Override
    public void getRebuildStatus(GetRebuildStatusRequest request, StreamObserver<RebuildStatus> observer) {
        respond(observer, () -> toProto(engine.rebuildStatus()));
    }

    private static RebuildStatus toProto(io.bighorn.dataplane.engine.RebuildStatus s) {
        RebuildStatus.Builder b = RebuildStatus.newBuilder()
                .setState(s.state())
                .setBytesDone(s.bytesDone())
                .setBytesTotal(s.bytesTotal())
                .setBytesSent(s.bytesSent())
                .setDigestBytes(s.digestBytes())
                .setBytesPerSecond(s.bytesPerSecond())
                .setBandwidthLimit(s.bandwidthLimit())
                .setProgress(s.progress());
        if (s.target() != null) {
            b.setTarget(s.target());
        }
        if (s.mode() != null) {
            b.setMode(s.mode());
        }
        if (s.source() != null) {
            b.setSource(s.source());
        }
        if (s.error() != null) {
            b.setError(s.error());
        }
        if (s.started() != null) {
            b.setStarted(s.started().toString());
        }
        if (s.finished() != null) {
            b.setFinished(s.finished().toString());
        }
        return b.build();
    }

    @Override
    public void expand(ExpandRequest request, StreamObserver<EngineInfo> observer) {
        respond(observer, () -> {
            engine.expand(request.getSize());
            return info();
        });
    }
}
