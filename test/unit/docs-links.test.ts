// Every link between README.md and the docs/ pages points at a file and a heading that exist, and each page
// lists its sections in its table of contents: the reference is split over pages, so links break silently.
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { describe, expect, it } from 'vitest';
import { REPO } from '../helpers/project.js';

/** GitHub's anchor for a heading: lower case, punctuation dropped, spaces to dashes; repeats get -1, -2. */
function anchors(markdown: string): Set<string> {
  const seen = new Map<string, number>();
  const out = new Set<string>();
  for (const heading of headings(markdown)) {
    const base = heading.text
      .toLowerCase()
      .replace(/[^\p{L}\p{N}_\- ]/gu, '')
      .replace(/ /g, '-');
    const n = seen.get(base) ?? 0;
    seen.set(base, n + 1);
    out.add(n === 0 ? base : `${base}-${n}`);
  }
  return out;
}

function headings(markdown: string): { level: number; text: string }[] {
  const out: { level: number; text: string }[] = [];
  let fenced = false;
  for (const line of markdown.split('\n')) {
    if (line.startsWith('```')) fenced = !fenced;
    const match = fenced ? null : /^(#{1,6}) (.+)$/.exec(line);
    if (match) out.push({ level: (match[1] as string).length, text: (match[2] as string).trim() });
  }
  return out;
}

// The pages are the Markdown files; docs/ also holds images (a screenshot of the compare report).
const PAGES = [
  'README.md',
  ...readdirSync(join(REPO, 'docs'))
    .filter((name) => name.endsWith('.md'))
    .map((name) => `docs/${name}`),
];

describe('docs links', () => {
  it('has the reference pages the README links to', () => {
    for (const page of ['config', 'cli', 'proxy', 'operations', 'api', 'errors', 'runtimes']) {
      expect(PAGES).toContain(`docs/${page}.md`);
    }
  });

  it.each(PAGES)('%s: every relative link reaches an existing file and heading', (page) => {
    const text = readFileSync(join(REPO, page), 'utf8');
    const broken: string[] = [];
    for (const [, target] of text.matchAll(/\]\(([^)\s]+)\)/g)) {
      if (/^[a-z]+:/.test(target as string)) continue; // http:, https:, mailto:
      const [file, anchor] = (target as string).split('#') as [string, string | undefined];
      const path = file === '' ? join(REPO, page) : join(REPO, dirname(page), file);
      if (!existsSync(path)) {
        broken.push(`${target} (no file ${relative(REPO, path)})`);
        continue;
      }
      if (anchor !== undefined && !anchors(readFileSync(path, 'utf8')).has(anchor)) {
        broken.push(`${target} (no heading #${anchor})`);
      }
    }
    expect(broken).toEqual([]);
  });

  it.each(PAGES.filter((page) => page.startsWith('docs/')))('%s: its contents list every section', (page) => {
    const text = readFileSync(join(REPO, page), 'utf8');
    const contents = /\n## Contents\n\n((?:\s*- \[.*\n)+)/.exec(text);
    expect(contents, 'a "## Contents" list').not.toBeNull();
    const listed = [...(contents?.[1] ?? '').matchAll(/\]\(#([^)]+)\)/g)].map((m) => m[1]);
    const sections = headings(text)
      .filter((h) => (h.level === 2 || h.level === 3) && h.text !== 'Contents')
      .map((h) => [...anchors(`## ${h.text}`)][0]);
    expect(listed).toEqual(sections);
  });
});
