package io.bighorn.manager.reconcile;

import io.bighorn.control.v1.EngineInfo;
import io.bighorn.control.v1.RebuildStatus;
import io.bighorn.control.v1.Snapshot;
import java.util.List;
import java.util.Map;

/** The calls the manager makes to a running engine's control API. */
public interface EngineApi {
    EngineInfo info();

    RebuildStatus rebuildStatus();

    RebuildStatus addReplica(String address);

    EngineInfo removeReplica(String address);

    EngineInfo expand(long size);

    Snapshot createSnapshot(String name, Map<String, String> labels);

    List<Snapshot> listSnapshots();

    void deleteSnapshot(String name);

    void revert(String name);

    List<String> purge();

    /** Reaches an engine at its control address. */
    interface Connector {
        EngineApi connect(String address);
    }
}
