// Sotto contacts (issue 16): identity, contact links, presence and ringing. See sotto-contacts.js.

export type Presence = 'online' | 'busy' | 'offline';

export interface Contact {
  /** The contact's long-term public key (base64url): how this API names a contact. */
  key: string;
  name: string;
  /** Paired through a link exchanged out of band. */
  verified: boolean;
  /** 60 digits in 12 groups of 5, the same on both sides and in every call. */
  safetyNumber: string;
  presence: Presence;
}

export type StopReason = 'answered-elsewhere' | 'ended-elsewhere' | 'declined' | 'missed' | 'missed-timeout' | 'expired' | 'not-confirmed';
export type Outcome = 'answered' | 'declined' | 'busy' | 'no-answer' | 'cancelled';

export interface ContactsEventMap {
  contacts: CustomEvent<Contact[]>;
  presence: CustomEvent<{ key: string; presence: Presence }>;
  incoming: CustomEvent<{ call: string; from: string; name: string }>;
  stopped: CustomEvent<{ call: string; reason: StopReason }>;
  outcome: CustomEvent<{ call: string; outcome: Outcome }>;
  join: CustomEvent<{ call: string; roomLink: string }>;
  missed: CustomEvent<{ call: string; from: string; name: string; at: number }>;
  error: CustomEvent<{ code: string; message: string }>;
}

export class ContactsError extends Error {
  readonly code: string;
}

export class Contacts extends EventTarget {
  static open(options?: { signalingUrl?: string }): Promise<Contacts>;
  readonly hasIdentity: boolean;
  readonly name: string | null;
  readonly publicKey: string | null;
  readonly contacts: Contact[];
  readonly ignored: number;
  create(name: string): Promise<void>;
  setName(name: string): Promise<void>;
  exportBackup(passphrase: string): Blob;
  importBackup(file: Blob | Uint8Array, passphrase: string): Promise<void>;
  createLink(base?: string): Promise<string>;
  addContact(link: string, options?: { signal?: AbortSignal }): Promise<Contact | undefined>;
  setBusy(busy: boolean): void;
  call(key: string, roomLink: string): Promise<string>;
  cancel(call: string): void;
  accept(call: string): void;
  decline(call: string): void;
  close(): void;
  addEventListener<K extends keyof ContactsEventMap>(type: K, listener: (ev: ContactsEventMap[K]) => void, options?: boolean | AddEventListenerOptions): void;
  addEventListener(type: string, listener: EventListenerOrEventListenerObject | null, options?: boolean | AddEventListenerOptions): void;
}

export function openContacts(options?: { signalingUrl?: string }): Promise<Contacts>;
