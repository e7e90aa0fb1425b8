"""Pupils' names as they appear on English rolls."""

from __future__ import annotations

#: Names as they appear on English rolls: common ones, names from the communities that live here, and
#: the awkward cases a gateway must carry intact (apostrophes, hyphens, spaces, lower-case particles,
#: accents, letters outside latin-1 such as Ł, ş and ễ; the feed is UTF-8). Uniform draws, not frequencies.
_FORENAMES = (
    "Oliver", "Amelia", "Muhammad", "Olivia", "George", "Isla", "Noah", "Ava", "Arthur", "Mia", "Leo", "Ivy",
    "Harry", "Freya", "Oscar", "Lily", "Archie", "Florence", "Henry", "Willow", "Theodore", "Isabella",
    "Jack", "Sophia", "Charlie", "Elsie", "Freddie", "Grace", "Alfie", "Evie", "Thomas", "Poppy", "Jacob",
    "Ella", "Jude", "Aria", "Ethan", "Emily", "Luca", "Chloé", "Zoë", "Siân", "Seán", "Oisín", "Aoife",
    "Niamh", "Renée", "José", "Zainab", "Fatima", "Aisha", "Maryam", "Yusuf", "Ibrahim", "Omar", "Ali",
    "Hassan", "Ayaan", "Aarav", "Arjun", "Priya", "Ananya", "Riya", "Kiran", "Harpreet", "Gurpreet",
    "Jaspreet", "Simran", "Kwame", "Kofi", "Ama", "Chidi", "Chioma", "Adebayo", "Oluwaseun", "Tolu", "Nia",
    "Amara", "Malachi", "Tyrese", "Jayden", "Kai", "Mei", "Wei", "Hana", "Yuki", "Minh", "Linh",
    "Łukasz", "Zofia", "Wiktoria", "Jakub", "Szymon", "Maja", "Kacper", "Natalia", "Ioana", "Andrei",
    "Mihai", "Elena", "Darius", "Giorgos", "Sofía", "Mateo", "Lucía", "Anaïs", "Noé", "Inès", "Léa",
    "Mary-Jane", "Anne-Marie", "Lily-Mae", "Ellie-May", "Tia-Rose", "D'Arcy", "Jean-Luc", "Ffion", "Dafydd",
    "Rhys", "Cerys", "Callum", "Eilidh", "Ruaridh", "Mohammed", "Abdullah", "Sara", "Leah", "Ruby", "Daisy",
    "Sienna", "Harper", "Evelyn", "Matilda", "Rosie", "Max", "Finley", "Reuben", "Samuel", "Joshua", "Daniel",
    "Benjamin", "Isaac", "Elijah", "Hugo", "Sebastian", "Albie", "Louie", "Teddy", "Bobby", "Frankie",
    "Esmé", "Maëlle", "Björn", "Søren", "Ngozi", "Temitope", "Ayşe", "Emre", "Mehmet", "Zeynep",
)
_SURNAMES = (
    "Smith", "Jones", "Williams", "Taylor", "Brown", "Davies", "Evans", "Wilson", "Thomas", "Johnson",
    "Roberts", "Robinson", "Thompson", "Wright", "Walker", "White", "Edwards", "Hughes", "Green", "Hall",
    "Lewis", "Harris", "Clarke", "Patel", "Jackson", "Wood", "Turner", "Martin", "Cooper", "Hill", "Ward",
    "Morris", "Moore", "Clark", "Lee", "King", "Baker", "Harrison", "Morgan", "Allen", "James", "Scott",
    "Phillips", "Watson", "Davis", "Parker", "Price", "Bennett", "Young", "Griffiths", "Mitchell", "Kelly",
    "Cook", "Carter", "Richardson", "Bailey", "Collins", "Bell", "Shaw", "Murphy", "Miller", "Cox",
    "Richards", "Khan", "Marshall", "Anderson", "Simpson", "Ellis", "Adams", "Singh", "Begum", "Wilkinson",
    "Foster", "Chapman", "Powell", "Webb", "Rogers", "Gray", "Mason", "Ali", "Hunt", "Hussain", "Campbell",
    "Matthews", "Owen", "Palmer", "Holmes", "Mills", "Barnes", "Knight", "Lloyd", "Butler", "Russell",
    "Barker", "Fisher", "Stevens", "Jenkins", "Murray", "Dixon", "Harvey", "Ahmed", "Akhtar", "Rahman",
    "Islam", "Uddin", "Miah", "Choudhury", "Kaur", "Sharma", "Gupta", "Shah", "Mistry", "Chauhan", "Okafor",
    "Adeyemi", "Mensah", "Osei", "Nwosu", "Abdi", "Mohamed", "Hassan", "Yılmaz", "Kaya", "Nowak",
    "Kowalski", "Wiśniewski", "Wójcik", "Kowalczyk", "Popescu", "Ionescu", "Nguyễn", "Tran", "Chen", "Wang",
    "Li", "Zhang", "O'Brien", "O'Connor", "O'Neill", "O'Sullivan", "McCarthy", "MacDonald", "McKenzie",
    "D'Souza", "D'Almeida", "De'Ath", "Smith-Jones", "Ashworth-Clarke", "Baker-Hughes", "Müller",
    "García", "Núñez", "Gonçalves", "Da Silva", "van der Berg", "Le Roux", "Ó Briain", "Ní Bhriain",
    "Fernández", "Pérez", "Öztürk", "Çelik", "Sørensen", "Ngô", "Boateng", "Mensah-Bonsu", "Lewis-Evans",
)


def _latin1(names: tuple[str, ...]) -> tuple[str, ...]:
    """The names a latin-1 GIAS extract can carry (pupil names may be any Unicode; GIAS is latin-1)."""
    out = []
    for name in names:
        try:
            name.encode("latin-1")
        except UnicodeEncodeError:
            continue
        out.append(name)
    return tuple(out)


_LATIN1_FORENAMES = _latin1(_FORENAMES)
_LATIN1_SURNAMES = _latin1(_SURNAMES)
