// The reference graphql-ws server (npm `graphql-ws` on `ws`), as a user would set it up for
// pub/sub: an in-memory PubSub (npm `graphql-subscriptions`), one subscription field per topic
// and a mutation that publishes. No authentication, no storage: the peer's best case.
// Usage: node graphql-ws-server.mjs PORT
import { WebSocketServer } from 'ws';
import { useServer } from 'graphql-ws/use/ws';
import { buildSchema } from 'graphql';
import { PubSub } from 'graphql-subscriptions';

const port = Number(process.argv[2] ?? 4200);
const pubsub = new PubSub();
const schema = buildSchema(`
  type Query { ok: Boolean! }
  type Mutation { publish(topic: String!, body: String!): Boolean! }
  type Subscription { messages(topic: String!): String! }
`);
const roots = {
  query: { ok: () => true },
  mutation: {
    publish: async ({ topic, body }) => {
      await pubsub.publish(topic, { messages: body });
      return true;
    },
  },
  subscription: {
    messages: ({ topic }) => pubsub.asyncIterableIterator(topic),
  },
};

const server = new WebSocketServer({ host: '127.0.0.1', port, path: '/graphql' });
useServer({ schema, roots }, server);
server.on('listening', () => console.log(`graphql-ws reference server on ws://127.0.0.1:${port}/graphql`));
for (const signal of ['SIGINT', 'SIGTERM']) process.on(signal, () => process.exit(0));
