/** Every source the gateway can read, the default first. A new source is a folder under src/sources/ and one entry here. */
import { kommoProfile } from './kommo/profile.js';
import type { SourceProfile } from './profile.js';
import { v4Profile } from './v4/profile.js';

export const profiles = [v4Profile, kommoProfile] as const;

type SettingsOf<P> = P extends SourceProfile<infer S> ? S : never;

/** The settings of whichever source is configured, discriminated by `kind`. */
export type SourceSettingsUnion = SettingsOf<(typeof profiles)[number]>;

/** The profile of these settings. */
export function profileOf<S extends SourceSettingsUnion>(settings: S): SourceProfile<S> {
  const profile = profiles.find((candidate) => candidate.kind === settings.kind);
  if (!profile) throw new Error(`no source profile "${settings.kind}"`);
  // The kinds are unique, so the profile found reads exactly these settings.
  return profile as unknown as SourceProfile<S>;
}
