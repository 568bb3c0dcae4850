// madge ships no types: the part of its API the structure test uses.
declare module 'madge' {
  interface MadgeConfig {
    baseDir?: string;
    fileExtensions?: string[];
    tsConfig?: string;
  }
  interface MadgeResult {
    /** Each cycle as the files on it, relative to the base directory. */
    circular(): string[][];
    /** Files madge could not resolve. */
    warnings(): { skipped: string[] };
    obj(): Record<string, string[]>;
  }
  export default function madge(path: string | string[], config?: MadgeConfig): Promise<MadgeResult>;
}
