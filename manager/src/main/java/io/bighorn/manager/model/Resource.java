package io.bighorn.manager.model;

/** An object of the control plane: metadata, desired state (spec) and observed state (status). */
public sealed interface Resource<R extends Resource<R>>
        permits Volume, Replica, Engine, Node, Setting, Backup, Snapshot, BackupTarget, BackupVolume {
    Meta meta();

    /** A copy with other metadata: the store sets version, generation and uid through it. */
    R withMeta(Meta meta);

    default String name() {
        return meta().name();
    }
}
