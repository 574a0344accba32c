package io.bighorn.dataplane.replica;

import java.io.IOException;

/** One open layer file of a replica: its id, descriptor and metadata. */
final class Layer {
    final long id;
    final NativeFile file;
    private volatile LayerMeta meta;

    Layer(long id, NativeFile file, LayerMeta meta) {
        this.id = id;
        this.file = file;
        this.meta = meta;
    }

    LayerMeta meta() {
        return meta;
    }

    void meta(LayerMeta meta) {
        this.meta = meta;
    }

    String name() {
        return meta.name() == null ? Replica.HEAD_NAME : meta.name();
    }

    /** Allocated bytes: the sum of the file's data extents. */
    long allocatedBytes() throws IOException {
        long[] total = {0};
        Extents.forEach(file, Long.MAX_VALUE, (from, to) -> total[0] += to - from);
        return total[0];
    }
}
