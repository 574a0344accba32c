/** The control plane: desired state, scheduling, reconciliation and the REST API. */
package io.bighorn.manager;
