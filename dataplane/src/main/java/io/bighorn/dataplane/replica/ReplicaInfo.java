package io.bighorn.dataplane.replica;

import java.util.List;

/**
 * The state of a replica: what {@code bighorn replica inspect} prints.
 *
 * @param chain layer names from the base up to {@value Replica#HEAD_NAME}
 * @param layers every layer of the replica, in creation order (snapshots on other branches included)
 * @param indexRamBytes heap held by the block index
 * @param rebuilding whether the replica is the target of an unfinished rebuild
 */
public record ReplicaInfo(
        String dir,
        long size,
        long epoch,
        long revision,
        List<String> chain,
        List<LayerInfo> layers,
        long indexRamBytes,
        boolean rebuilding) {
    public ReplicaInfo {
        chain = List.copyOf(chain);
        layers = List.copyOf(layers);
    }

    /** One layer file. */
    public record LayerInfo(String name, String file, long allocatedBytes, boolean removed, boolean head) {}
}
