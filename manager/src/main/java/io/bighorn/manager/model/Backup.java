package io.bighorn.manager.model;

import java.util.Map;

/**
 * A backup of a volume's snapshot to the backup target, run by the agent of the node the volume is
 * attached to.
 *
 * @param spec which snapshot of which volume, with labels for the backup
 * @param status pending, running, completed or error; progress in bytes; the backup's URL once completed
 */
public record Backup(Meta meta, Spec spec, Status status) implements Resource<Backup> {

    /** What to back up. */
    public record Spec(String volume, String snapshot, Map<String, String> labels) {
        public Spec {
            labels = labels == null ? Map.of() : Map.copyOf(labels);
        }
    }

    /** How the backup went. */
    public record Status(
            String state, String node, String target, long bytesDone, long bytesTotal, String url, String error) {
        public static Status pending() {
            return new Status("pending", "", "", 0, 0, "", "");
        }

        public boolean finished() {
            return state.equals("completed") || state.equals("error");
        }
    }

    @Override
    public Backup withMeta(Meta m) {
        return new Backup(m, spec, status);
    }

    public Backup withStatus(Status s) {
        return new Backup(meta, spec, s);
    }
}
