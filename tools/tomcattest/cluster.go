package tomcattest

import (
	"context"
	"crypto/sha256"
	"fmt"
	"regexp"
	"strconv"

	"github.com/caddy-ajp/caddy-ajp/tools/harness"
)

// StartCluster starts nodes that replicate sessions to each other. It gives
// every node a Cluster (a free receiver port and a unique id unless set),
// lists all other nodes as its static peers, defaults JvmRoute to Name, and
// starts the nodes one after another: started together, their DeltaManagers
// ask each other for sessions before the peer's context is up and one blocks
// for stateTransferTimeout. It returns once each node's replication channel
// lists all its peers. On error, the nodes already started are stopped.
func StartCluster(ctx context.Context, opts []Options) ([]*Node, error) {
	opts, err := clusterOptions(opts)
	if err != nil {
		return nil, err
	}
	var nodes []*Node
	fail := func(err error) ([]*Node, error) {
		_ = stopAll(nodes)
		return nil, err
	}
	for _, o := range opts {
		n, err := Start(ctx, o)
		if err != nil {
			return fail(err)
		}
		nodes = append(nodes, n)
	}
	if err := WaitClusterJoined(ctx, nodes...); err != nil {
		return fail(err)
	}
	return nodes, nil
}

// clusterOptions fills in the cluster settings of StartCluster.
func clusterOptions(in []Options) ([]Options, error) {
	opts := make([]Options, len(in))
	copy(opts, in)
	names := map[string]bool{}
	for i := range opts {
		o := &opts[i]
		if o.Name == "" {
			o.Name = "tomcat" + strconv.Itoa(i+1)
		}
		if names[o.Name] {
			return nil, fmt.Errorf("duplicate node name %q", o.Name)
		}
		names[o.Name] = true
		if o.JvmRoute == "" {
			o.JvmRoute = o.Name
		}
		c := Cluster{}
		if o.Cluster != nil {
			c = *o.Cluster
		}
		if c.ReceiverPort == 0 {
			p, err := harness.FreePort()
			if err != nil {
				return nil, err
			}
			c.ReceiverPort = p
		}
		if c.UniqueID == ([16]byte{}) {
			sum := sha256.Sum256([]byte(o.Name + "/" + strconv.Itoa(c.ReceiverPort)))
			copy(c.UniqueID[:], sum[:16])
		}
		o.Cluster = &c
	}
	for i := range opts {
		c := opts[i].Cluster
		c.Peers = nil
		for j := range opts {
			if j != i {
				p := opts[j].Cluster
				c.Peers = append(c.Peers, ClusterMember{Host: "127.0.0.1", Port: p.ReceiverPort, UniqueID: p.UniqueID})
			}
		}
	}
	return opts, nil
}

// WaitClusterJoined waits until the replication channel of each running node
// lists every other running node as a member. Call it after Restart of a
// cluster node before creating sessions that must fail over: the survivors
// admit a restarted peer only on their next heartbeat.
func WaitClusterJoined(ctx context.Context, nodes ...*Node) error {
	ctx, cancel := context.WithTimeout(ctx, StartTimeout)
	defer cancel()
	for _, n := range nodes {
		if !n.Running() {
			continue
		}
		for _, p := range nodes {
			if p == n || !p.Running() || p.opts.Cluster == nil {
				continue
			}
			port := p.opts.Cluster.ReceiverPort
			err := poll(ctx, func() bool { return n.HasPeer(port) }, func() error {
				return fmt.Errorf("node %s: replication member %s (receiver port %d) not added", n.Name(), p.Name(), port)
			})
			if err != nil {
				return fmt.Errorf("%w\n--- tail of %s ---\n%s", err, n.LogPath(), harness.Tail(n.Log(), 30))
			}
		}
	}
	return nil
}

// Tribes prints members as "…[tcp://{127, 0, 0, 1}:4001,…": the receiver
// port follows the host's closing brace.
var (
	memberAddedRE       = regexp.MustCompile(`Replication member added:\[.*?\}:(\d+),`)
	memberDisappearedRE = regexp.MustCompile(`Received member disappeared:\[.*?\}:(\d+),`)
)

// HasPeer reports whether, in the current run, the node's replication
// channel last added the member with the given receiver port and did not
// drop it afterwards.
func (n *Node) HasPeer(receiverPort int) bool {
	log := n.runLog()
	want := strconv.Itoa(receiverPort)
	last := func(re *regexp.Regexp) int {
		at := -1
		for _, m := range re.FindAllStringSubmatchIndex(log, -1) {
			if log[m[2]:m[3]] == want {
				at = m[0]
			}
		}
		return at
	}
	added := last(memberAddedRE)
	return added >= 0 && added > last(memberDisappearedRE)
}

// ReceiverPort is the replication receiver's port, 0 without clustering.
func (n *Node) ReceiverPort() int {
	if n.opts.Cluster == nil {
		return 0
	}
	return n.opts.Cluster.ReceiverPort
}

// stopAll stops nodes, returning the first error.
func stopAll(nodes []*Node) error {
	var first error
	for _, n := range nodes {
		if err := n.Stop(); err != nil && first == nil {
			first = err
		}
	}
	return first
}
