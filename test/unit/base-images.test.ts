// Which images a Containerfile builds FROM (for the image's hash): not scratch, not a stage, not a build argument.
import { describe, expect, it } from 'vitest';
import { baseImageIds, baseImages } from '../../src/runtime/container/base-images.js';

describe('the base images of a Containerfile', () => {
  it('are the FROM references, without scratch, earlier stages or build arguments', () => {
    const file = [
      '# syntax=docker/dockerfile:1',
      'ARG VERSION=20',
      'FROM --platform=linux/amd64 node:20-slim AS build',
      'RUN make',
      'from build as test',
      'FROM node:$VERSION', // a build argument
      'FROM scratch',
      'FROM localhost/base:1',
      'FROM node:20-slim',
      '  FROM gcr.io/distroless/nodejs20',
    ].join('\n');
    expect(baseImages(file)).toEqual(['node:20-slim', 'localhost/base:1', 'gcr.io/distroless/nodejs20']);
  });

  it("go into the hash with the engine's id of each, or absent", async () => {
    const ids: Record<string, string> = { 'node:20-slim': 'sha256:aa' };
    expect(await baseImageIds(['node:20-slim', 'x:1'], async (ref) => ids[ref] ?? null)).toBe(
      'node:20-slim=sha256:aa x:1=absent',
    );
  });
});
