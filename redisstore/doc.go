// Package redisstore shares one tokenrefresh session between many machines
// through Redis, so that a fleet of replicas refreshes once between them.
//
// It provides three pieces, all built on a [redis.UniversalClient] (a single
// server, Sentinel or Cluster):
//
//   - [Store], a [tokenrefresh.Store] keeping the token under one key as JSON,
//     optionally sealed with AES-256-GCM ([WithEncryptionKey]). Every Save
//     announces the change on a Pub/Sub channel.
//   - [Locker], a [tokenrefresh.Locker] backed by a redsync lock, so that
//     only one replica at a time refreshes and a rotating refresh token is
//     spent exactly once.
//   - [Store.Watch], which listens on the channel and makes a replica's
//     Source adopt a token that another replica stored, before its own copy
//     goes stale.
//
// Wiring a replica:
//
//	client := redis.NewUniversalClient(&redis.UniversalOptions{Addrs: addrs})
//	store, err := redisstore.NewStore(client, "tokenrefresh:acme", redisstore.WithEncryptionKey(key))
//	if err != nil { ... }
//	locker := redisstore.NewLocker(client, "tokenrefresh:acme:lock")
//	src := tokenrefresh.NewSource(refresher,
//		tokenrefresh.WithStore(store), tokenrefresh.WithLocker(locker))
//	go store.Watch(ctx, src)
//
// Correctness never depends on Pub/Sub: a replica whose token goes stale or
// is refused takes the lock, reads the store and adopts the newer token it
// finds there instead of refreshing. Watch only makes that happen sooner.
//
// The lock expires on its own if its holder dies. Its time to live must be
// longer than the Source's refresh timeout (tokenrefresh.WithRefreshTimeout,
// 30 seconds by default), so that it never expires under a refresh that is
// still running: the default, [DefaultLockTTL], is 45 seconds.
//
// Token values never appear in errors or logs.
package redisstore
